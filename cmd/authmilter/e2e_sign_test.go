package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// signWorld is the DNS, keys and configuration of the signing end-to-end
// test: sign.test has four [[dkim.sign]] entries (RSA-2048 and Ed25519,
// each relaxed/relaxed and simple/simple), parent.test one that covers its
// subdomains; inbound.test is a domain whose mail is verified.
type signWorld struct {
	dns     *dnstest.Server
	zone    string
	records map[string]string // key record name -> text, for dkimpy
	dir     string
	config  string
}

// The signatures on a sign.test message, top down as inserted.
var signSelectors = []string{"rsa1", "ed1", "rsas", "eds"}

func newSignWorld(t *testing.T) *signWorld {
	t.Helper()
	w := &signWorld{dir: t.TempDir(), records: map[string]string{}}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := func(name string, k crypto.Signer) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(w.dir, name+".pem")
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rsaFile, edFile := keyFile("rsa", rsaKey), keyFile("ed", edKey)
	var zone strings.Builder
	zone.WriteString(`
inbound.test.          TXT "v=spf1 ip4:127.0.0.3 -all"
_dmarc.inbound.test.   TXT "v=DMARC1; p=none"
client.test.           A   127.0.0.3
`)
	publish := func(name string, k crypto.Signer) {
		rec, err := dkim.KeyRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		w.records[name] = rec
		fmt.Fprintf(&zone, "%s. TXT %s\n", name, strings.Join(txtStrings(rec), " "))
	}
	publish("rsa1._domainkey.sign.test", rsaKey)
	publish("rsas._domainkey.sign.test", rsaKey)
	publish("ed1._domainkey.sign.test", edKey)
	publish("eds._domainkey.sign.test", edKey)
	publish("ed1._domainkey.parent.test", edKey)
	w.zone = zone.String()
	if w.dns, err = dnstest.Start(w.zone); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.dns.Close)
	// One daemon, one configuration: clients in trusted_networks
	// (127.0.0.1: Postfix's local submission; 127.0.0.2) and the
	// submission listeners (Postfix ORIGINATING, Sendmail MSA) are signed;
	// 127.0.0.3 on the port-25 listener is verified.
	w.config = fmt.Sprintf(`
authserv_id = %q
trusted_networks = ["127.0.0.1/32", "127.0.0.2/32"]
[dkim]
sign_daemons = ["ORIGINATING", "MSA"]
sign_expire = "168h"
sign_key_check = "refuse"
[[dkim.sign]]
domain = "sign.test"
selector = "rsa1"
key = %q
[[dkim.sign]]
domain = "sign.test"
selector = "ed1"
key = %q
[[dkim.sign]]
domain = "sign.test"
selector = "rsas"
key = %q
canonicalization = "simple/simple"
[[dkim.sign]]
domain = "sign.test"
selector = "eds"
key = %q
canonicalization = "simple/simple"
[[dkim.sign]]
domain = "parent.test"
selector = "ed1"
key = %q
subdomains = true
[policy]
quarantine_mode = "header"
[limits]
evaluation_timeout = "10s"
`, e2eAuthservID, rsaFile, edFile, rsaFile, edFile, edFile)
	return w
}

// TestEndToEndSigning signs through a real Postfix and a real Sendmail and
// checks every delivered signature, each on its own, with dkimpy, with our
// own "check dkim" and, where installed, with OpenDKIM's opendkim-testmsg.
// The same daemon verifies the mail of the port-25 listener.
func TestEndToEndSigning(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	w := newSignWorld(t)
	d := startDaemon(t, w.dns.Addr, w.config)
	logHas(t, d, "DKIM signing key matches DNS", "selector=ed1", "domain=parent.test")
	// Postfix: a submission listener naming itself ORIGINATING, as port
	// 587 would; local submission (sendmail(1)) through the milter too.
	// A third listener takes XCLIENT LOGIN: a SASL-authenticated client.
	pfSub, pfAuth := freePort(t), freePort(t)
	pf := startPostfixWith(t, d.Addr, mtaOptions{
		MainCF: "\nnon_smtpd_milters = inet:" + d.Addr + "\n",
		MasterCF: fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd -o milter_macro_daemon_name=ORIGINATING\n", pfSub) +
			fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd -o smtpd_sasl_auth_enable=yes\n", pfAuth),
	})
	t.Run("postfix", func(t *testing.T) {
		runSignCases(t, w, d, pf, fmt.Sprintf("127.0.0.1:%d", pfSub))
		t.Run("local sendmail command", func(t *testing.T) { checkLocalSubmission(t, w, pf) })
		t.Run("SASL-authenticated client", func(t *testing.T) {
			checkAuthenticated(t, w, d, pf, fmt.Sprintf("127.0.0.1:%d", pfAuth))
		})
	})
	smSub := freePort(t)
	sm := startSendmailWith(t, d.Addr, mtaOptions{
		MC: fmt.Sprintf("DAEMON_OPTIONS(`Port=%d, Addr=127.0.0.1, Name=MSA')dnl\n", smSub),
	})
	t.Run("sendmail", func(t *testing.T) { runSignCases(t, w, d, sm, fmt.Sprintf("127.0.0.1:%d", smSub)) })
}

// logHas requires a line of the daemon's log to hold every one of want.
func logHas(t *testing.T, d *daemon, want ...string) {
	t.Helper()
	for _, line := range strings.Split(d.log.String(), "\n") {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return
		}
	}
	t.Errorf("no line of the daemon's log holds all of %q", want)
}

func runSignCases(t *testing.T, w *signWorld, d *daemon, m *mta, subAddr string) {
	id := func(s string) string { return fmt.Sprintf("<%s.%s.%d@e2e.test>", s, m.Name, time.Now().UnixNano()) }
	sub := &mta{Name: m.Name + " submission", Addr: subAddr, mailDir: m.mailDir, logf: m.logf}

	t.Run("trusted client, odd header spacing, oversigned", func(t *testing.T) {
		mid := id("odd")
		// Sendmail rewrites the address fields it delivers (a tab after
		// "Cc:" becomes a space), which breaks c=simple; so the tab is in
		// an address field for Postfix only (README, "Signing").
		cc := "Cc:\t<u2@elsewhere.test>"
		if m.Name == "sendmail" {
			cc = "Cc: <u2@elsewhere.test>"
		}
		msg := message([]string{"From: Alice <alice@sign.test>", "To:  two spaces <u@elsewhere.test>",
			"Subject:nospace", "Date: Mon, 07 Dec 2026 10:00:00 +0000", "Message-ID: " + mid,
			"X-Folded: first\n\tsecond line\n  third", cc, "X-Tabbed:\ttab  after colon ", "MIME-Version: 1.0"},
			"Hello.  \n\ttabbed  line \n\n\n")
		got := sendSigned(t, dialSMTP(t, m, "127.0.0.2", "client.test"), m, "alice@sign.test", msg, mid)
		verifySigned(t, w, got, "sign.test", signSelectors)
		// h= oversigns From, Subject, To, Cc: one more than present.
		for _, sig := range headerFields(got, "DKIM-Signature") {
			h := strings.Join(strings.Fields(tagValue(sig, "h")), "")
			mustContain(t, "h=", strings.ToLower(h), "from:from", "subject:subject", "to:to", "cc:cc", "message-id:message-id")
			if strings.Contains(strings.ToLower(h), "received") || strings.Contains(strings.ToLower(h), "x-folded") {
				t.Errorf("h=%s signs a field it must not", h)
			}
			if tagValue(sig, "t") == "" || tagValue(sig, "x") == "" {
				t.Errorf("no t= or x= in %q", sig)
			}
		}
		if ar := ours(got); len(ar) != 0 {
			t.Errorf("a signing client's message got our Authentication-Results: %q", ar)
		}
	})

	t.Run("submission listener ({daemon_name})", func(t *testing.T) {
		mid := id("sub")
		msg := message([]string{"From: bob@sign.test", "To: u@elsewhere.test", "Subject: via submission",
			"Date: Mon, 07 Dec 2026 10:00:00 +0000", "Message-ID: " + mid}, "Sent on the submission port.\n")
		got := sendSigned(t, dialSMTP(t, sub, "127.0.0.3", "client.test"), m, "bob@sign.test", msg, mid)
		verifySigned(t, w, got, "sign.test", signSelectors)
	})

	t.Run("8-bit body", func(t *testing.T) {
		mid := id("8bit")
		msg := message([]string{"From: carl@sign.test", "To: u@elsewhere.test", "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=",
			"Date: Mon, 07 Dec 2026 10:00:00 +0000", "Message-ID: " + mid, "MIME-Version: 1.0",
			"Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"},
			"Grüße aus Köln — ça va ?\n")
		got := sendSigned(t, dialSMTP(t, m, "127.0.0.2", "client.test"), m, "carl@sign.test", msg, mid)
		verifySigned(t, w, got, "sign.test", signSelectors)
		logHas(t, d, "signed message may not verify on arrival", "disable_mime_output_conversion")
	})

	t.Run("subdomain of a subdomains entry", func(t *testing.T) {
		mid := id("subdom")
		msg := message([]string{"From: dora@dept.parent.test", "To: u@elsewhere.test", "Subject: from a subdomain",
			"Message-ID: " + mid, "Date: Mon, 07 Dec 2026 10:00:00 +0000"}, "Hi.\n")
		got := sendSigned(t, dialSMTP(t, m, "127.0.0.2", "client.test"), m, "dora@dept.parent.test", msg, mid)
		verifySigned(t, w, got, "parent.test", []string{"ed1"})
	})

	t.Run("no entry for the From domain: not signed", func(t *testing.T) {
		mid := id("other")
		msg := message([]string{"From: eve@other.test", "To: u@elsewhere.test", "Subject: unsigned",
			"Message-ID: " + mid}, "Hi.\n")
		got := sendSigned(t, dialSMTP(t, m, "127.0.0.2", "client.test"), m, "eve@other.test", msg, mid)
		if sigs := headerFields(got, "DKIM-Signature"); len(sigs) != 0 {
			t.Errorf("signed without an entry: %q", sigs)
		}
		logHas(t, d, "message not signed", "no [[dkim.sign]] entry for other.test")
	})

	t.Run("port 25 client verified, not signed", func(t *testing.T) {
		mid := id("inbound")
		msg := message([]string{"From: fred@inbound.test", "To: u@elsewhere.test", "Subject: inbound",
			"Message-ID: " + mid, "Date: Mon, 07 Dec 2026 10:00:00 +0000"}, "Hi.\n")
		got := sendSigned(t, dialSMTP(t, m, "127.0.0.3", "client.test"), m, "fred@inbound.test", msg, mid)
		if sigs := headerFields(got, "DKIM-Signature"); len(sigs) != 0 {
			t.Errorf("inbound mail signed: %q", sigs)
		}
		ar := ours(got)
		if len(ar) != 1 || !strings.Contains(ar[0], "spf=pass") {
			t.Errorf("inbound mail not evaluated: %q", ar)
		}
	})
}

// sendSigned sends msg, requires 250 and returns the delivered message.
func sendSigned(t *testing.T, s *smtpSession, m *mta, mailFrom string, msg []byte, mid string) string {
	t.Helper()
	if r := s.Send(t, mailFrom, "u@rcpt.test", msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("reply %q, want 250", r)
	}
	return m.Delivered(t, mid)
}

// checkLocalSubmission submits with Postfix's sendmail(1), without Date
// and Message-ID: Postfix adds both before the milter sees the header.
func checkLocalSubmission(t *testing.T, w *signWorld, m *mta) {
	marker := fmt.Sprintf("local-%d", time.Now().UnixNano())
	msg := "From: Local <gina@sign.test>\nTo: u@elsewhere.test\nSubject: " + marker + "\n\nSubmitted with sendmail(1).\n"
	cmd := exec.Command("/usr/sbin/sendmail", "-C", m.conf, "-f", "gina@sign.test", "u@rcpt.test")
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	got := m.Delivered(t, marker)
	verifySigned(t, w, got, "sign.test", signSelectors)
	for _, sig := range headerFields(got, "DKIM-Signature") {
		h := strings.ToLower(strings.Join(strings.Fields(tagValue(sig, "h")), ""))
		mustContain(t, "h= of a local submission", h, "date:date", "message-id:message-id")
	}
}

// checkAuthenticated logs in with XCLIENT LOGIN (Postfix passes it to
// the milter as {auth_authen}) from an address that is neither trusted
// nor on a signing listener: the message is signed because of the login.
func checkAuthenticated(t *testing.T, w *signWorld, d *daemon, m *mta, addr string) {
	mid := fmt.Sprintf("<sasl.%d@e2e.test>", time.Now().UnixNano())
	s := dialSMTP(t, &mta{Name: m.Name + " sasl", Addr: addr}, "127.0.0.3", "client.test")
	for _, step := range []struct {
		cmd  string
		code int
	}{{"XCLIENT LOGIN=hank@sign.test", 220}, {"EHLO client.test", 250}} {
		id, err := s.c.Text.Cmd("%s", step.cmd)
		if err != nil {
			t.Fatal(err)
		}
		s.c.Text.StartResponse(id)
		_, _, err = s.c.Text.ReadResponse(step.code)
		s.c.Text.EndResponse(id)
		if err != nil {
			t.Fatalf("%s: %v", step.cmd, err)
		}
	}
	msg := message([]string{"From: hank@sign.test", "To: u@elsewhere.test", "Subject: authenticated",
		"Date: Mon, 07 Dec 2026 10:00:00 +0000", "Message-ID: " + mid}, "Logged in.\n")
	got := sendSigned(t, s, m, "hank@sign.test", msg, mid)
	verifySigned(t, w, got, "sign.test", signSelectors)
	if !strings.Contains(d.log.String(), "auth_user=hank@sign.test") {
		t.Errorf("no log line names the login")
	}
}

// tagValue returns the value of tag name in a signature field value.
func tagValue(sig, name string) string {
	for _, tag := range strings.Split(sig, ";") {
		k, v, _ := strings.Cut(tag, "=")
		if strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// verifySigned requires the delivered message to carry exactly one
// signature per selector, d=domain, in that order, each of which passes
// dkimpy, our check dkim and (installed or not) opendkim-testmsg, each
// judged alone.
func verifySigned(t *testing.T, w *signWorld, delivered, domain string, selectors []string) {
	t.Helper()
	sigs := headerFields(delivered, "DKIM-Signature")
	if len(sigs) != len(selectors) {
		t.Fatalf("%d DKIM-Signature fields, want %d:\n%s", len(sigs), len(selectors), delivered)
	}
	for i, sig := range sigs {
		if tagValue(sig, "d") != domain || tagValue(sig, "s") != selectors[i] {
			t.Errorf("signature %d: d=%s s=%s, want d=%s s=%s", i, tagValue(sig, "d"), tagValue(sig, "s"), domain, selectors[i])
		}
	}
	// The field as delivered: exactly one space after the colon (the
	// leading-space option), or c=simple would fail below.
	for _, f := range fieldBytes(delivered, "DKIM-Signature") {
		if !strings.HasPrefix(f, "DKIM-Signature: v=1; ") {
			t.Errorf("delivered field starts %q", f[:min(len(f), 30)])
		}
	}
	crlf := strings.ReplaceAll(strings.ReplaceAll(delivered, "\r\n", "\n"), "\n", "\r\n")
	dir := t.TempDir()
	file := filepath.Join(dir, "msg.eml")
	if err := os.WriteFile(file, []byte(crlf), 0o644); err != nil {
		t.Fatal(err)
	}
	// dkimpy, each signature by its index, keys from our records (no DNS).
	recs, _ := json.Marshal(w.records)
	recFile := filepath.Join(dir, "records.json")
	os.WriteFile(recFile, recs, 0o644)
	out, err := exec.Command("/usr/bin/python3", "-c", dkimpyVerify, recFile, file).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, out)
	}
	var py []bool
	if err := json.Unmarshal(out, &py); err != nil || len(py) != len(selectors) {
		t.Fatalf("dkimpy printed %q (%v)", out, err)
	}
	for i, ok := range py {
		if !ok {
			t.Errorf("dkimpy: signature %d (s=%s) fails", i, selectors[i])
		}
	}
	// Our own verifier, as "authmilter check dkim".
	out, err = exec.Command(daemonBinary(t), "check", "dkim", "-dns", w.dns.Addr, "-json", file).Output()
	if err != nil {
		t.Fatalf("check dkim: %v\n%s", err, out)
	}
	var ourRes struct {
		Signatures []struct{ Result, Selector, Reason string }
	}
	if err := json.Unmarshal(out, &ourRes); err != nil || len(ourRes.Signatures) != len(selectors) {
		t.Fatalf("check dkim printed %q (%v)", out, err)
	}
	for i, r := range ourRes.Signatures {
		if r.Result != "pass" {
			t.Errorf("check dkim: signature %d (s=%s): %s %s", i, r.Selector, r.Result, r.Reason)
		}
	}
	if !t.Failed() {
		opendkimVerify(t, w, crlf, len(selectors))
	}
	if t.Failed() {
		t.Logf("delivered:\n%s", delivered)
	}
}

// dkimpyVerify prints a JSON list: whether each DKIM-Signature verifies,
// by index, key records read from the JSON file argv[1].
const dkimpyVerify = `
import sys, json, dkim
recs = json.load(open(sys.argv[1]))
def dnsfunc(name, timeout=5):
    n = name.decode() if isinstance(name, bytes) else name
    return recs.get(n.rstrip(".").lower(), "").encode()
m = open(sys.argv[2], "rb").read()
n = sum(1 for l in m.split(b"\r\n\r\n")[0].split(b"\r\n") if l.lower().startswith(b"dkim-signature:"))
d = dkim.DKIM(m)
print(json.dumps([bool(d.verify(idx=i, dnsfunc=dnsfunc)) for i in range(n)]))
`

// opendkimVerify runs OpenDKIM's opendkim-testmsg, when installed, on one
// copy of the message per signature with the others removed (it exits 0
// when any signature passes), resolving through a test DNS server on port
// 53 named by a private /etc/resolv.conf (a mount namespace).
func opendkimVerify(t *testing.T, w *signWorld, crlf string, n int) {
	t.Helper()
	const tool = "/usr/sbin/opendkim-testmsg"
	if _, err := os.Stat(tool); err != nil {
		t.Log("opendkim-testmsg not installed: the third verifier is skipped")
		return
	}
	srv, addr := dns53(t, w.zone)
	if srv == nil {
		t.Log("no loopback address free on port 53: opendkim-testmsg skipped")
		return
	}
	defer srv.Close()
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver "+addr+"\noptions attempts:1 timeout:2\n"), 0o644)
	for i := range n {
		file := filepath.Join(dir, fmt.Sprintf("sig%d.eml", i))
		os.WriteFile(file, []byte(keepSignature(crlf, i)), 0o644)
		out, err := exec.Command("unshare", "-m", "sh", "-c",
			`mount --bind "$1" /etc/resolv.conf && exec "$2" < "$3"`, "sh", resolv, tool, file).CombinedOutput()
		if err != nil {
			t.Errorf("opendkim-testmsg: signature %d alone: %v %s", i, err, out)
		}
	}
}

// keepSignature returns msg (CRLF) with every DKIM-Signature field but the
// i-th removed.
func keepSignature(msg string, i int) string {
	head, body, _ := strings.Cut(msg, "\r\n\r\n")
	var out []string
	k := -1
	lines := strings.Split(head, "\r\n")
	for j := 0; j < len(lines); j++ {
		field := []string{lines[j]}
		for j+1 < len(lines) && (strings.HasPrefix(lines[j+1], " ") || strings.HasPrefix(lines[j+1], "\t")) {
			j++
			field = append(field, lines[j])
		}
		if strings.HasPrefix(strings.ToLower(field[0]), "dkim-signature:") {
			k++
			if k != i {
				continue
			}
		}
		out = append(out, field...)
	}
	return strings.Join(out, "\r\n") + "\r\n\r\n" + body
}

// dns53 starts a test DNS server on port 53 of a random 127.x address.
func dns53(t *testing.T, zone string) (*dnstest.Server, string) {
	for range 5 {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<16))
		ip := net.IPv4(127, 53, byte(n.Int64()>>8), byte(n.Int64()|1)).String()
		srv, err := dnstest.StartAt(ip+":53", zone)
		if err == nil {
			return srv, ip
		}
	}
	return nil, ""
}
