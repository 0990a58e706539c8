package milter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth/policy"
)

// TestForgedARRemoved: every Authentication-Results field carrying our
// authserv-id is deleted, whatever its case, folding or comments, highest
// index first with the milter's 1-based per-name indices; foreign ones and
// look-alikes stay.
func TestForgedARRemoved(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	fields := []struct {
		value  string
		forged bool
	}{
		{" mx.milter.test; dkim=pass", true},
		{" other.test; dkim=pass", false},
		{" MX.Milter.TEST; spf=pass", true},
		{"\n\tmx.milter.test;\n\tdmarc=pass", true},
		{" (a comment; with a semicolon) mx.milter.test (more) ; none", true},
		{" mx.milter.test.evil; dkim=pass", false},
		{" xmx.milter.test; dkim=pass", false},
		{"mx.milter.test 1; dkim=pass", true}, // with a version, no space after the colon
		{" \"mx.milter.test\"; dkim=pass", true},
		{" (mx.milter.test) other.test; none", false},
	}
	var msg strings.Builder
	var want []uint32
	for i, f := range fields {
		msg.WriteString("Authentication-Results:" + strings.ReplaceAll(f.value, "\n", "\r\n") + "\r\n")
		if f.forged {
			want = append([]uint32{uint32(i + 1)}, want...) // highest first
		}
	}
	msg.WriteString("From: <b@other.test>\r\nSubject: forged\r\n\r\nbody\r\n")
	mods, act := sendMessage(t, s, "b@other.test", []byte(msg.String()))
	if act.Code != gomilter.ActAccept {
		t.Fatalf("action %+v", act)
	}
	var got []uint32
	for _, m := range mods {
		if m.Code == gomilter.ActChangeHeader {
			if m.HeaderName != "Authentication-Results" || m.HeaderValue != "" {
				t.Errorf("change %+v is not a deletion of an A-R field", m)
			}
			got = append(got, m.HeaderIndex)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deleted A-R indices %v, want %v", got, want)
	}
	// The deletions come before our insertion.
	if len(mods) == 0 || mods[len(mods)-1].Code != gomilter.ActInsertHeader {
		t.Errorf("our A-R is not the last change: %+v", mods)
	}
}

// TestReplyTextsSafe: SMTP reply texts are printable ASCII without CR/LF,
// '%' is doubled, and the length is bounded, whatever the policy text and
// domain contain.
func TestReplyTextsSafe(t *testing.T) {
	for _, in := range []string{
		"plain", "a\r\n250 2.0.0 OK\r\n", "100%", "%s%n%x", "\x00\x01\xff", "é ü", strings.Repeat("x", 5000),
	} {
		r := finalReply(policy.Decision{Action: policy.Reject, Text: "DMARC policy of " + in + " rejects"})
		text := string(r.msg.Data)
		if !strings.HasPrefix(text, "550 5.7.1 ") || !strings.HasSuffix(text, "\x00") {
			t.Errorf("%q: reply %q", in, text)
		}
		body := strings.TrimSuffix(text, "\x00")
		for i := 0; i < len(body); i++ {
			if c := body[i]; c < 0x20 || c > 0x7e {
				t.Errorf("%q: byte %#x in reply %q", in, c, text)
			}
		}
		if strings.Count(body, "%")%2 != 0 || strings.Contains(strings.ReplaceAll(body, "%%", ""), "%") {
			t.Errorf("%q: lone %% in reply %q", in, body)
		}
		if len(body) > 512 {
			t.Errorf("%q: reply of %d bytes", in, len(body))
		}
	}
}

// TestRejectReplyFromHostileMessage: a message whose From domain and
// HELO carry what an attacker would like echoed gets a generic reply.
func TestRejectReplyFromHostileMessage(t *testing.T) {
	env := newTestEnv(t, sessionZone+`
xn--bcher-kva.test.        TXT "v=spf1 -all"
_dmarc.xn--bcher-kva.test. TXT "v=DMARC1; p=reject"
`, envOptions{})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "evil.test\r\n250 2.0.0 Ok: queued")
	for _, from := range []string{"a@bücher.test", "a@reject.test\r\n250 OK", "\"%n%s\r\n\" <a@reject.test>"} {
		_, act := sendMessage(t, s, "x@reject.test", []byte("From: "+from+"\r\n\r\nbody\r\n"))
		if act.Code != gomilter.ActReplyCode {
			t.Errorf("From %q: action %+v", from, act)
			continue
		}
		for i := 0; i < len(act.SMTPText); i++ {
			if c := act.SMTPText[i]; c < 0x20 || c > 0x7e {
				t.Errorf("From %q: byte %#x in reply %q", from, c, act.SMTPText)
			}
		}
		if strings.Contains(act.SMTPText, "250") || strings.Contains(act.SMTPText, "bücher") {
			t.Errorf("From %q: reply %q echoes the message", from, act.SMTPText)
		}
	}
}

// TestLogsNotInjectable: CR/LF in HELO, MAIL FROM, From and macros never
// start a new log line, in text or JSON.
func TestLogsNotInjectable(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf lockedBuffer
			var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			if format == "json" {
				h = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			}
			env := newTestEnv(t, sessionZone, envOptions{log: slog.New(h)})
			s := env.client()
			defer s.Close()
			inject := "\r\ntime=2026-01-01T00:00:00Z level=ERROR msg=injected\n{\"msg\":\"injected\"}\r\n"
			connect(t, s, sessionIP, "helo.test"+inject)
			if err := s.Macros(gomilter.CodeMail, "i", "QID"+inject); err != nil {
				t.Fatal(err)
			}
			sendMessage(t, s, "a@reject.test"+inject, []byte("From: <a@reject.test"+strings.ReplaceAll(inject, "\r\n", "\r\n ")+">\r\n\r\nbody\r\n"))
			sendMessage(t, s, "b@other.test"+inject, simpleMessage("b@other.test", "second"))
			out := buf.String()
			if !strings.Contains(out, "injected") {
				t.Fatalf("the test input did not reach the log:\n%s", out)
			}
			for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if strings.Contains(line, "\r") {
					t.Errorf("CR in log line %q", line)
				}
				switch format {
				case "text":
					if strings.HasPrefix(line, "time=2026-01-01") || !strings.HasPrefix(line, "time=") {
						t.Errorf("injected log line %q", line)
					}
				case "json":
					var v map[string]any
					if err := json.Unmarshal([]byte(line), &v); err != nil || v["msg"] == "injected" {
						t.Errorf("injected log line %q (%v)", line, err)
					}
				}
			}
			if bytes.Count([]byte(out), []byte("msg=message")) == 0 && bytes.Count([]byte(out), []byte(`"msg":"message"`)) == 0 {
				t.Errorf("no per-message log line:\n%s", out)
			}
		})
	}
}
