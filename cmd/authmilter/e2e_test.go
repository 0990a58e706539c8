package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

const e2eAuthservID = "mx.authmilter.test"

// e2eWorld is the DNS and signing key shared by the end-to-end cases.
type e2eWorld struct {
	dns *dnstest.Server
	key *rsa.PrivateKey
}

func newE2EWorld(t *testing.T) *e2eWorld {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	p := base64.StdEncoding.EncodeToString(pub)
	// TXT strings are limited to 255 bytes: split the key record.
	keyRR := `"v=DKIM1; k=rsa; p=` + p[:200] + `" "` + p[200:] + `"`
	zone := `
pass.test.                 TXT "v=spf1 ip4:127.0.0.1 -all"
pass.test.                 A   192.0.2.10
_dmarc.pass.test.          TXT "v=DMARC1; p=reject"
sel._domainkey.pass.test.  TXT ` + keyRR + `
reject.test.               TXT "v=spf1 ip4:192.0.2.1 -all"
reject.test.               A   192.0.2.1
_dmarc.reject.test.        TXT "v=DMARC1; p=reject"
quarantine.test.           TXT "v=spf1 ip4:192.0.2.1 -all"
quarantine.test.           A   192.0.2.1
_dmarc.quarantine.test.    TXT "v=DMARC1; p=quarantine"
other.test.                TXT "v=spf1 ip4:127.0.0.0/8 -all"
other.test.                A   192.0.2.20
_dmarc.other.test.         TXT "v=DMARC1; p=reject"
broken.test.               TXT "v=spf1 ip4:127.0.0.1 -all"
broken.test.               A   192.0.2.30
_dmarc.broken.test.        TXT "v=DMARC1; p=reject"
slow.test.                 TXT "v=spf1 ip4:127.0.0.1 -all"
slow.test.                 A   192.0.2.31
_dmarc.slow.test.          TXT "v=DMARC1; p=reject"
client.test.               A   127.0.0.1
client.test.               TXT "v=spf1 ip4:127.0.0.0/8 -all"
`
	srv, err := dnstest.Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.ServFail("_dmarc.broken.test.")
	srv.Drop("_dmarc.slow.test.")
	return &e2eWorld{dns: srv, key: key}
}

// message builds a message with CRLF line ends; headers are given raw.
func message(headers []string, body string) []byte {
	var b bytes.Buffer
	for _, h := range headers {
		b.WriteString(strings.ReplaceAll(h, "\n", "\r\n"))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.Bytes()
}

// sign adds a DKIM-Signature for d=pass.test, s=sel.
func (w *e2eWorld) sign(t *testing.T, msg []byte, canon dkim.Canonicalization) []byte {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
		Domain: "pass.test", Selector: "sel", Signer: w.key, Hash: crypto.SHA256,
		HeaderCanonicalization: canon, BodyCanonicalization: canon,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// headerFields returns the unfolded values of the named fields of a
// delivered message.
func headerFields(msg, name string) []string {
	head, _, _ := strings.Cut(strings.ReplaceAll(msg, "\r\n", "\n"), "\n\n")
	var out []string
	lines := strings.Split(head, "\n")
	for i := 0; i < len(lines); i++ {
		n, v, ok := strings.Cut(lines[i], ":")
		if !ok || !strings.EqualFold(n, name) {
			continue
		}
		for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], " ") || strings.HasPrefix(lines[i+1], "\t")) {
			i++
			v += " " + strings.TrimSpace(lines[i])
		}
		out = append(out, strings.TrimSpace(v))
	}
	return out
}

// ours returns the Authentication-Results values carrying our authserv-id.
func ours(msg string) []string {
	var out []string
	for _, v := range headerFields(msg, "Authentication-Results") {
		id, _, _ := strings.Cut(v, ";")
		if strings.EqualFold(strings.TrimSpace(id), e2eAuthservID) {
			out = append(out, v)
		}
	}
	return out
}

// fieldBytes returns the named fields of a delivered message as delivered:
// name, colon, value and continuation lines, each line with its line end.
// The name is matched without regard to case.
func fieldBytes(msg, name string) []string {
	var out []string
	for rest := msg; rest != "" && !strings.HasPrefix(rest, "\n") && !strings.HasPrefix(rest, "\r\n"); {
		end := 0
		for {
			i := strings.IndexByte(rest[end:], '\n')
			if i < 0 {
				end = len(rest)
				break
			}
			end += i + 1
			if end == len(rest) || (rest[end] != ' ' && rest[end] != '\t') {
				break
			}
		}
		field := rest[:end]
		rest = rest[end:]
		if n, _, ok := strings.Cut(field, ":"); ok && strings.EqualFold(n, name) {
			out = append(out, field)
		}
	}
	return out
}

// ourFieldBytes returns the Authentication-Results fields carrying our
// authserv-id, as delivered.
func ourFieldBytes(msg string) []string {
	var out []string
	for _, f := range fieldBytes(msg, "Authentication-Results") {
		_, v, _ := strings.Cut(f, ":")
		if id, _, _ := strings.Cut(v, ";"); strings.EqualFold(strings.TrimSpace(id), e2eAuthservID) {
			out = append(out, f)
		}
	}
	return out
}

// wantAR is our Authentication-Results field as the MTA must deliver it:
// one space after the colon, each resinfo (or folded part) on a
// continuation line starting with a TAB, LF line ends.
func wantAR(lines ...string) string {
	// The test clients speak plaintext: x-tls=none ends each.
	return "Authentication-Results: " + e2eAuthservID + ";\n\t" + strings.Join(lines, "\n\t") + ";\n\tx-tls=none\n"
}

// passAR is wantAR for mail from bounce@pass.test, signed by pass.test with
// header.b (headerB), sent from 127.0.0.1 with HELO client.test.
func passAR(b string) string {
	return wantAR(
		"spf=pass (ip4:127.0.0.1 matched) smtp.mailfrom=bounce@pass.test;",
		"spf=pass (ip4:127.0.0.0/8 matched) smtp.helo=client.test;",
		"dkim=pass header.d=pass.test header.i=@pass.test header.s=sel",
		"header.b="+b+";",
		"dmarc=pass (spf and dkim aligned) header.from=pass.test policy.dmarc=reject")
}

// headerB is the header.b property for the DKIM-Signature of a signed
// message: the first 8 characters of b=, quoted when they hold a "/" (not
// an RFC 2045 token character).
func headerB(t *testing.T, signed []byte) string {
	t.Helper()
	sig := headerFields(string(signed), "DKIM-Signature")
	if len(sig) != 1 {
		t.Fatalf("%d DKIM-Signature fields", len(sig))
	}
	for _, tag := range strings.Split(sig[0], ";") {
		k, v, _ := strings.Cut(tag, "=")
		if strings.TrimSpace(k) != "b" {
			continue
		}
		b := strings.Join(strings.Fields(v), "")[:8]
		if strings.Contains(b, "/") {
			b = `"` + b + `"`
		}
		return b
	}
	t.Fatal("no b= tag")
	return ""
}

// mustBytes requires exactly one field in got, byte for byte want.
func mustBytes(t *testing.T, what string, got []string, want, delivered string) {
	t.Helper()
	if len(got) != 1 || got[0] != want {
		t.Errorf("%s as delivered:\n%q\nwant exactly\n%q\nmessage:\n%s", what, got, want, delivered)
	}
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s: %q lacks %q", what, s, sub)
		}
	}
}

const e2eConfig = `
authserv_id = "` + e2eAuthservID + `"
trusted_networks = ["127.0.0.2/32"]
[policy]
quarantine_mode = "header"
[limits]
evaluation_timeout = "10s"
`

// TestEndToEnd runs every case through a real Postfix and a real Sendmail,
// checking the SMTP reply and the delivered header.
func TestEndToEnd(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel() // private MTAs, daemon and DNS: runs beside the other end-to-end tests
	w := newE2EWorld(t)
	d := startDaemon(t, w.dns.Addr, e2eConfig)
	mtas := []func(*testing.T, string) *mta{startPostfix, startSendmail}
	for _, start := range mtas {
		m := start(t, d.Addr)
		t.Run(m.Name, func(t *testing.T) { runE2ECases(t, w, d, m) })
	}
}

// deliverOne sends msg on s, requires 250, waits for its delivery and
// requires exactly one Authentication-Results of ours, which it returns
// with the delivered message.
func deliverOne(t *testing.T, s *smtpSession, m *mta, mailFrom string, msg []byte, mid string) (ar, delivered string) {
	t.Helper()
	if r := s.Send(t, mailFrom, "u@rcpt.test", msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("reply %q, want 250", r)
	}
	delivered = m.Delivered(t, mid)
	got := ours(delivered)
	if len(got) != 1 {
		t.Fatalf("%d A-R fields with our id, want 1: %q\n%s", len(got), got, delivered)
	}
	return got[0], delivered
}

// checkAlignedPass sends a message whose SPF and DKIM both align with the
// author domain: it must be delivered with exactly one A-R of ours, all pass.
func checkAlignedPass(t *testing.T, w *e2eWorld, m *mta, mid string) {
	t.Helper()
	msg := w.sign(t, message([]string{
		"From: Alice <alice@pass.test>", "To: u@rcpt.test", "Subject: hello",
		"Message-ID: " + mid, "Date: Sun, 22 Nov 2026 10:00:00 +0000",
	}, "Hello.\n"), dkim.CanonicalizationRelaxed)
	ar, got := deliverOne(t, dialSMTP(t, m, "127.0.0.1", "client.test"), m, "bounce@pass.test", msg, mid)
	mustContain(t, "A-R", ar, "spf=pass", "smtp.mailfrom=bounce@pass.test", "dkim=pass", "header.d=pass.test", "header.s=sel", "dmarc=pass", "header.from=pass.test", "policy.dmarc=reject")
	mustBytes(t, "our A-R", ourFieldBytes(got), passAR(headerB(t, msg)), got)
}

// checkSpoofRejected sends a From of a p=reject domain from a client its SPF
// does not allow, unsigned: 550 5.7.1 naming the domain at end of DATA.
func checkSpoofRejected(t *testing.T, m *mta, mid string) {
	t.Helper()
	msg := message([]string{"From: ceo@reject.test", "To: u@rcpt.test", "Subject: pay", "Message-ID: " + mid}, "Pay now.\n")
	s := dialSMTP(t, m, "127.0.0.1", "client.test")
	r := s.Send(t, "ceo@reject.test", "u@rcpt.test", msg)
	if !strings.HasPrefix(r, "550 5.7.1") || !strings.Contains(r, "reject.test") {
		t.Fatalf("reply %q, want 550 5.7.1 naming reject.test", r)
	}
}

func runE2ECases(t *testing.T, w *e2eWorld, d *daemon, m *mta) {
	id := func(s string) string { return fmt.Sprintf("<%s.%s.%d@e2e.test>", s, m.Name, time.Now().UnixNano()) }

	t.Run("aligned pass delivered with one A-R", func(t *testing.T) { checkAlignedPass(t, w, m, id("pass")) })

	t.Run("spoofed p=reject rejected at end of DATA", func(t *testing.T) { checkSpoofRejected(t, m, id("spoof")) })

	t.Run("p=quarantine marked", func(t *testing.T) {
		mid := id("quar")
		msg := message([]string{"From: news@quarantine.test", "To: u@rcpt.test", "Subject: q", "Message-ID: " + mid}, "Hmm.\n")
		ar, got := deliverOne(t, dialSMTP(t, m, "127.0.0.1", "client.test"), m, "news@quarantine.test", msg, mid)
		mustBytes(t, "X-Authmilter-Quarantine", fieldBytes(got, "X-Authmilter-Quarantine"),
			"X-Authmilter-Quarantine: yes (dmarc fail, policy quarantine)\n", got)
		mustContain(t, "A-R", ar, "dmarc=fail", "policy.dmarc=quarantine")
		mustBytes(t, "our A-R", ourFieldBytes(got), wantAR(
			"spf=fail (-all matched) smtp.mailfrom=news@quarantine.test;",
			"spf=pass (ip4:127.0.0.0/8 matched) smtp.helo=client.test;",
			"dkim=none;",
			"dmarc=fail (no aligned identifier) header.from=quarantine.test",
			"policy.dmarc=quarantine"), got)
	})

	for _, c := range []struct{ name, domain string }{{"SERVFAIL", "broken.test"}, {"timeout", "slow.test"}} {
		t.Run("DNS "+c.name+" tempfails", func(t *testing.T) {
			msg := message([]string{"From: x@" + c.domain, "To: u@rcpt.test", "Subject: t", "Message-ID: " + id("temp")}, "T.\n")
			s := dialSMTP(t, m, "127.0.0.1", "client.test")
			if r := s.Send(t, "x@"+c.domain, "u@rcpt.test", msg); !strings.HasPrefix(r, "451") {
				t.Fatalf("reply %q, want 451", r)
			}
		})
	}

	t.Run("connection data kept after a rejected message", func(t *testing.T) {
		s := dialSMTP(t, m, "127.0.0.1", "client.test")
		spoof := message([]string{"From: ceo@reject.test", "To: u@rcpt.test", "Subject: 1", "Message-ID: " + id("first")}, "1\n")
		if r := s.Send(t, "ceo@reject.test", "u@rcpt.test", spoof); !strings.HasPrefix(r, "550") {
			t.Fatalf("first message: reply %q, want 550", r)
		}
		mid := id("second")
		good := message([]string{"From: a@other.test", "To: u@rcpt.test", "Subject: 2", "Message-ID: " + mid}, "2\n")
		ar, got := deliverOne(t, s, m, "a@other.test", good, mid)
		mustContain(t, "second message A-R", ar, "spf=pass", "smtp.mailfrom=a@other.test", "dmarc=pass")
		mustBytes(t, "second message A-R", ourFieldBytes(got), wantAR(
			"spf=pass (ip4:127.0.0.0/8 matched) smtp.mailfrom=a@other.test;",
			"spf=pass (ip4:127.0.0.0/8 matched) smtp.helo=client.test;",
			"dkim=none;",
			"dmarc=pass (spf aligned) header.from=other.test policy.dmarc=reject"), got)
	})

	t.Run("simple/simple over unusual header spacing passes", func(t *testing.T) {
		mid := id("space")
		msg := w.sign(t, message([]string{
			"From: alice@pass.test", "To: u@rcpt.test", "Subject:nospace", "X-Tab:\ttabbed",
			"X-Two:  two spaces", "X-Fold: first\n  second line\n\tthird", "Message-ID: " + mid,
		}, "Body.\n"), dkim.CanonicalizationSimple)
		ar, got := deliverOne(t, dialSMTP(t, m, "127.0.0.1", "client.test"), m, "other@other.test", msg, mid)
		mustContain(t, "A-R", ar, "dkim=pass", "header.d=pass.test", "dmarc=pass")
		mustBytes(t, "A-R", ourFieldBytes(got), wantAR(
			"spf=pass (ip4:127.0.0.0/8 matched) smtp.mailfrom=other@other.test;",
			"spf=pass (ip4:127.0.0.0/8 matched) smtp.helo=client.test;",
			"dkim=pass header.d=pass.test header.i=@pass.test header.s=sel",
			"header.b="+headerB(t, msg)+";",
			"dmarc=pass (dkim aligned) header.from=pass.test policy.dmarc=reject"), got)
		// The sender's odd spacing is delivered as sent.
		for _, f := range []string{"Subject:nospace\n", "X-Tab:\ttabbed\n", "X-Two:  two spaces\n", "X-Fold: first\n  second line\n\tthird\n"} {
			name, _, _ := strings.Cut(f, ":")
			mustBytes(t, name, fieldBytes(got, name), f, got)
		}
	})

	t.Run("forged A-R removed, foreign kept", func(t *testing.T) {
		mid := id("forged")
		msg := w.sign(t, message([]string{
			"Authentication-Results: " + e2eAuthservID + "; dkim=pass header.d=bank.test",
			"authentication-results:  MX.AuthMilter.TEST (forged; really);\n\tdmarc=pass header.from=bank.test",
			"Authentication-Results: other.example; spf=pass smtp.mailfrom=x.example",
			"From: alice@pass.test", "To: u@rcpt.test", "Subject: f", "Message-ID: " + mid,
		}, "F.\n"), dkim.CanonicalizationRelaxed)
		ar, got := deliverOne(t, dialSMTP(t, m, "127.0.0.1", "client.test"), m, "bounce@pass.test", msg, mid)
		if strings.Contains(ar, "bank.test") {
			t.Fatalf("the forged A-R survived, ours was dropped: %q\n%s", ar, got)
		}
		mustBytes(t, "our A-R", ourFieldBytes(got), passAR(headerB(t, msg)), got)
		var foreign []string
		for _, f := range fieldBytes(got, "Authentication-Results") {
			if strings.Contains(f, "other.example;") {
				foreign = append(foreign, f)
			}
		}
		mustBytes(t, "foreign A-R", foreign, "Authentication-Results: other.example; spf=pass smtp.mailfrom=x.example\n", got)
	})

	t.Run("A-R a lenient reader takes for ours removed", func(t *testing.T) {
		mid := id("lenient")
		msg := w.sign(t, message([]string{
			"Authentication-Results: MX.AuthMilter.Test.; dkim=pass header.d=bank1.test",
			"Authentication-Results: mx.authmilter.test,other; dkim=pass header.d=bank2.test",
			"Authentication-Results: other.example; spf=pass smtp.mailfrom=x.example",
			"Authentication-Results: (unterminated mx.authmilter.test; dmarc=pass header.from=bank3.test",
			"Authentication-Results: mx.authmilter.test/1; dmarc=pass header.from=bank4.test",
			"From: alice@pass.test", "To: u@rcpt.test", "Subject: l", "Message-ID: " + mid,
		}, "L.\n"), dkim.CanonicalizationRelaxed)
		_, got := deliverOne(t, dialSMTP(t, m, "127.0.0.1", "client.test"), m, "bounce@pass.test", msg, mid)
		ars := headerFields(got, "Authentication-Results")
		if strings.Contains(strings.Join(ars, "\n"), "bank") || len(ars) != 2 {
			t.Fatalf("want ours and other.example's A-R only, got %q\n%s", ars, got)
		}
	})

	// A bare CR never reaches the milter from these MTAs: Postfix turns it
	// into a space (the signature over it then fails, for every later
	// verifier too), Sendmail refuses the message at DATA. auth's tests
	// cover a milter peer that does hand one over.
	t.Run("bare CR in a header is never a second field", func(t *testing.T) {
		mid := id("barecr")
		msg := w.sign(t, message([]string{
			"From: alice@other.test", "To: u@rcpt.test", "Subject: hi\rFrom: ceo@reject.test", "Message-ID: " + mid,
		}, "B.\n"), dkim.CanonicalizationSimple)
		s := dialSMTP(t, m, "127.0.0.1", "client.test")
		if m.Name == "sendmail" {
			if r := s.Send(t, "other@other.test", "u@rcpt.test", msg); !strings.HasPrefix(r, "421 4.5.0") {
				t.Fatalf("reply %q, want Sendmail's 421 4.5.0 for a bare CR", r)
			}
			return
		}
		ar, got := deliverOne(t, s, m, "other@other.test", msg, mid)
		if f := headerFields(got, "From"); len(f) != 1 || f[0] != "alice@other.test" {
			t.Errorf("From fields %q, want the one", f)
		}
		mustContain(t, "A-R", ar, "dkim=fail", "dmarc=pass", "header.from=other.test")
	})

	t.Run("bare CR in From never accepted", func(t *testing.T) {
		msg := w.sign(t, message([]string{
			"From: <alice@pass.test>\rFrom: <ceo@reject.test>", "To: u@rcpt.test", "Subject: c", "Message-ID: " + id("crfrom"),
		}, "C.\n"), dkim.CanonicalizationSimple)
		want := map[string]string{"postfix": "550 5.6.0", "sendmail": "421 4.5.0"}[m.Name]
		s := dialSMTP(t, m, "127.0.0.1", "client.test")
		if r := s.Send(t, "bounce@pass.test", "u@rcpt.test", msg); !strings.HasPrefix(r, want) {
			t.Fatalf("reply %q, want %s", r, want)
		}
	})

	t.Run("trusted client skipped", func(t *testing.T) {
		mid := id("trusted")
		msg := message([]string{"From: ceo@reject.test", "To: u@rcpt.test", "Subject: t", "Message-ID: " + mid}, "Local.\n")
		s := dialSMTP(t, m, "127.0.0.2", "client.test")
		if r := s.Send(t, "ceo@reject.test", "u@rcpt.test", msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("reply %q, want 250 (trusted, not evaluated)", r)
		}
		if ar := ours(m.Delivered(t, mid)); len(ar) != 0 {
			t.Errorf("trusted client's message got our A-R: %q", ar)
		}
	})

	t.Run("20 MB message with flat RSS", func(t *testing.T) {
		mid := id("big")
		line := strings.Repeat("0123456789", 7) + "\n"
		body := strings.Repeat(line, 20<<20/len(line))
		msg := w.sign(t, message([]string{"From: alice@pass.test", "To: u@rcpt.test", "Subject: big", "Message-ID: " + mid}, body), dkim.CanonicalizationRelaxed)
		_, peak0 := d.RSS(t)
		ar, got := deliverOne(t, dialSMTP(t, m, "127.0.0.1", "client.test"), m, "bounce@pass.test", msg, mid)
		mustContain(t, "A-R", ar, "dkim=pass")
		mustBytes(t, "our A-R", ourFieldBytes(got), passAR(headerB(t, msg)), got)
		_, peak1 := d.RSS(t)
		t.Logf("%s: daemon peak RSS %d KiB before, %d KiB after a %d MiB message", m.Name, peak0>>10, peak1>>10, len(msg)>>20)
		if grow := peak1 - peak0; grow > 16<<20 {
			t.Errorf("peak RSS grew by %d MiB for a 20 MiB message; the body must stream", grow>>20)
		}
	})
}
