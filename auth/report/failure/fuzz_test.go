package failure

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzBuild: whatever the original header and envelope hold, the report
// parses as an AFRF message (net/mail, mime/multipart), its header part
// parses as a header, and a local-part marked in the input never survives.
func FuzzBuild(f *testing.F) {
	f.Add([]byte(sampleHeader), "alice.smith@example.com", "secretuser")
	f.Add([]byte("From: x\n\n\nTo: y\r\n--afrf-x--\r\n"), "", "x")
	f.Add([]byte("\r\n\t folded first\r\nSubject: =?utf-8?b?c2VjcmV0dXNlckBleGFtcGxlLmNvbQ==?=\r\n"), "<>", "secretuser")
	f.Add([]byte("To: \"secret user\"@example.com\x00\rX: 1"), "\"secret user\"@example.com", "\"secret user\"")
	f.Fuzz(func(t *testing.T, header []byte, mailFrom, local string) {
		inc := sampleIncident(t)
		inc.Header, inc.MailFrom = header, mailFrom
		b, err := Build(inc, sampleOptions, NewRedactor([]byte("fuzz")))
		if err != nil {
			t.Fatal(err)
		}
		parseReport(t, b)
		// A plain local-part put in a To field and the envelope is gone.
		if local == "" || strings.ContainsAny(local, "@\"\\ \t\r\n()<>,;:[]%=") || !isPlainLocal(local) {
			return
		}
		inc.Header = append(append([]byte("To: "+local+"@example.com\r\n"), header...), "\r\n"...)
		inc.MailFrom = local + "@example.com"
		b, err = Build(inc, sampleOptions, NewRedactor([]byte("fuzz")))
		if err != nil {
			t.Fatal(err)
		}
		if survives(b, local+"@example.com") {
			t.Errorf("local-part %q survives", local)
		}
	})
}

// survives says whether addr is in b as a whole address (not the end of
// a token's).
func survives(b []byte, addr string) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(addr))
		if j < 0 {
			return false
		}
		if i+j == 0 || !isLocalChar(b[i+j-1]) {
			return true
		}
		i += j + 1
	}
}

func isPlainLocal(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLocalChar(s[i]) || s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzRedactHeader: the redacted block is CRLF-terminated lines with no
// NUL or bare CR/LF, whatever came in.
func FuzzRedactHeader(f *testing.F) {
	f.Add([]byte(sampleHeader))
	f.Add([]byte("a\rb\nc\r\n\r\n d: e"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out := NewRedactor(nil).Header(raw)
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("no final CRLF: %q", out)
		}
		rest := bytes.ReplaceAll(out, []byte("\r\n"), nil)
		if bytes.ContainsAny(rest, "\r\n\x00") {
			t.Fatalf("bare line end or NUL: %q", out)
		}
	})
}
