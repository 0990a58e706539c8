package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/authmilter/authmilter/auth/arc"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// dkimpy is Debian's python3-dkim (dkimpy), the independent ARC
// implementation the end-to-end test seals and verifies with.
const dkimpyPython = "/usr/bin/python3"

// arcSignPy seals argv[1] (CRLF) as the list lists.test with the PEM key
// argv[2], from the list's own Authentication-Results (dkimpy takes cv=
// from its arc= result), and prints the sealed message.
const arcSignPy = `import sys, dkim
msg = open(sys.argv[1], 'rb').read()
key = open(sys.argv[2], 'rb').read()
sets = dkim.arc_sign(msg, b'arc', b'lists.test', key, b'lists.test')
if not sets:
    sys.exit('arc_sign added no set')
sys.stdout.buffer.write(b''.join(sets) + msg)
`

// arcVerifyPy verifies argv[1] with DNS answered from the JSON map argv[2]
// and prints the chain status and dkimpy's comment.
const arcVerifyPy = `import sys, json, dkim
txt = json.load(open(sys.argv[2]))
def dns(name, timeout=5):
    v = txt.get(name.decode().rstrip('.'))
    return v.encode() if v else None
msg = open(sys.argv[1], 'rb').read().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
cv, results, comment = dkim.arc_verify(msg, dnsfunc=dns)
print((cv or b'fail').decode(), comment)
`

// arcE2E holds the keys and DNS of the ARC end-to-end case.
type arcE2E struct {
	dns     *dnstest.Server
	txt     map[string]string // the key records, for dkimpy's dnsfunc
	listPEM string            // the list's key file (PKCS#1, for dkimpy)
	sealPEM string            // our [arc.seal] key file
	author  *rsa.PrivateKey   // reject.test's DKIM key
}

func rsaKeyFile(t *testing.T, dir, name string) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return k, p
}

func newARCE2E(t *testing.T) *arcE2E {
	t.Helper()
	dir := t.TempDir()
	w := &arcE2E{txt: map[string]string{}}
	list, listPEM := rsaKeyFile(t, dir, "list.pem")
	seal, sealPEM := rsaKeyFile(t, dir, "seal.pem")
	author, _ := rsaKeyFile(t, dir, "author.pem")
	w.listPEM, w.sealPEM, w.author = listPEM, sealPEM, author
	zone := `reject.test. TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.reject.test. TXT "v=DMARC1; p=reject"
lists.test. TXT "v=spf1 ip4:127.0.0.0/8 -all"
client.test. A 127.0.0.1
`
	for name, k := range map[string]*rsa.PrivateKey{
		"arc._domainkey.lists.test": list, "seal._domainkey.mx.authmilter.test": seal, "sel._domainkey.reject.test": author,
	} {
		rec, err := dkim.KeyRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		w.txt[name] = rec
		zone += name + `. TXT "` + rec[:200] + `" "` + rec[200:] + "\"\n"
	}
	srv, err := dnstest.Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	w.dns = srv
	return w
}

// py runs a dkimpy script with args and returns its output.
func py(t *testing.T, script string, args ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "arc.py")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(dkimpyPython, append([]string{f}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("dkimpy: %v\n%s", err, stderr)
	}
	return string(out)
}

// listMessage is ceo@reject.test's message (p=reject, DKIM-signed by
// reject.test) as a list sends it on: Subject tagged and a footer added
// (DKIM broken), from the list's address (SPF not aligned), sealed by
// lists.test with dkimpy after the list's own checks passed.
func (w *arcE2E) listMessage(t *testing.T, marker string) []byte {
	t.Helper()
	// No To field: the test Sendmail delivers header addresses rewritten
	// ("To: users@lists.test" arrived as "To: users"), which breaks every
	// signature over To, ours and the list's alike.
	orig := message([]string{"From: CEO <ceo@reject.test>", "Subject: quarterly numbers",
		"Date: Mon, 07 Dec 2026 16:00:00 +0000", "Message-ID: <" + marker + "@reject.test>"}, "The numbers are in.\n")
	var signed bytes.Buffer
	if err := msgdkim.Sign(&signed, bytes.NewReader(orig), &msgdkim.SignOptions{
		Domain: "reject.test", Selector: "sel", Signer: w.author, Hash: crypto.SHA256,
		HeaderCanonicalization: msgdkim.CanonicalizationRelaxed, BodyCanonicalization: msgdkim.CanonicalizationRelaxed,
	}); err != nil {
		t.Fatal(err)
	}
	listed := strings.Replace(signed.String(), "Subject: quarterly", "Subject: [users] quarterly", 1) +
		"-- \r\nusers mailing list\r\n"
	listed = "Authentication-Results: lists.test; arc=none;\r\n  spf=pass smtp.mailfrom=ceo@reject.test;\r\n" +
		"  dkim=pass header.d=reject.test header.s=sel;\r\n  dmarc=pass header.from=reject.test\r\n" + listed
	f := filepath.Join(t.TempDir(), "listed.eml")
	if err := os.WriteFile(f, []byte(listed), 0o644); err != nil {
		t.Fatal(err)
	}
	return []byte(py(t, arcSignPy, f, w.listPEM))
}

// TestEndToEndARC: through real Postfix (and Sendmail), a p=reject
// message broken by a list (SPF and DKIM fail, DMARC fail) and sealed by
// the list with dkimpy is quarantined, not rejected, when the list is a
// trusted sealer, and is delivered with our own ARC set, which dkimpy's
// arc_verify and our verifier both pass; without the trust it is rejected.
func TestEndToEndARC(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	if err := exec.Command(dkimpyPython, "-c", "import dkim, authres").Run(); err != nil {
		t.Skip("dkimpy's ARC needs python3-dkim and python3-authres: ", err)
	}
	t.Parallel()
	w := newARCE2E(t)
	base := "authserv_id = \"" + e2eAuthservID + "\"\ntrusted_networks = []\n" +
		"[policy]\nquarantine_mode = \"header\"\nlist_id_quarantines = false\n"

	trusted := startDaemon(t, w.dns.Addr, base+"[arc]\ntrusted_sealers = [\"lists.test\"]\n"+
		"[arc.seal]\ndomain = \"mx.authmilter.test\"\nselector = \"seal\"\nkey = \""+w.sealPEM+"\"\n")
	for _, start := range []func(*testing.T, string) *mta{startPostfix, startSendmail} {
		m := start(t, trusted.Addr)
		t.Run("trusted/"+m.Name, func(t *testing.T) { w.trustedCase(t, trusted, m) })
	}

	t.Run("untrusted", func(t *testing.T) {
		d := startDaemon(t, w.dns.Addr, base)
		m := startPostfix(t, d.Addr)
		s := dialSMTP(t, m, "127.0.0.1", "client.test")
		if r := s.Send(t, "bounce@lists.test", "u@rcpt.test", w.listMessage(t, "arc-untrusted")); !strings.HasPrefix(r, "550") {
			t.Fatalf("reply %q, want 550 (DMARC reject: the sealer is not trusted)", r)
		}
	})
}

// trustedCase sends the list's message through m to the daemon d that
// trusts lists.test and seals, and checks the delivered message.
func (w *arcE2E) trustedCase(t *testing.T, d *daemon, m *mta) {
	t.Helper()
	marker := "arc-trusted-" + m.Name
	s := dialSMTP(t, m, "127.0.0.1", "client.test")
	if r := s.Send(t, "bounce@lists.test", "u@rcpt.test", w.listMessage(t, marker)); !strings.HasPrefix(r, "250") {
		t.Fatalf("reply %q, want 250 (quarantined by header)", r)
	}
	got := m.Delivered(t, marker+"@reject.test")
	if q := headerFields(got, "X-Authmilter-Quarantine"); len(q) != 1 || !strings.Contains(q[0], "trusted ARC sealer lists.test") {
		t.Errorf("quarantine header %q", q)
	}
	ar := ours(got)
	if len(ar) != 1 || !strings.Contains(ar[0], "dmarc=fail (overridden: trusted ARC sealer lists.test)") ||
		!strings.Contains(ar[0], "arc=pass") || !strings.Contains(ar[0], "smtp.remote-ip=127.0.0.1") ||
		!strings.Contains(ar[0], "dkim=fail") {
		t.Errorf("our Authentication-Results: %q", ar)
	}
	if seals := headerFields(got, "ARC-Seal"); len(seals) != 2 || !strings.Contains(seals[0], "i=2") ||
		!strings.Contains(seals[0], "cv=pass") || !strings.Contains(seals[0], "d=mx.authmilter.test") {
		t.Errorf("ARC-Seal fields %q", seals)
	}
	// Our seal, as delivered, verified by dkimpy and by our verifier.
	f := filepath.Join(t.TempDir(), "delivered.eml")
	os.WriteFile(f, []byte(got), 0o644)
	txt, _ := json.Marshal(w.txt)
	tf := filepath.Join(t.TempDir(), "txt.json")
	os.WriteFile(tf, txt, 0o644)
	if out := py(t, arcVerifyPy, f, tf); !strings.HasPrefix(out, "pass ") {
		t.Errorf("dkimpy arc_verify: %s", out)
	}
	r, err := dns.New(dns.Config{Servers: []string{w.dns.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	crlf := strings.ReplaceAll(strings.ReplaceAll(got, "\r\n", "\n"), "\n", "\r\n")
	res, err := arc.Verify(context.Background(), arc.Options{Resolver: r}, strings.NewReader(crlf))
	if err != nil || res.Result != arc.Pass || res.Instances != 2 || res.Sealers[0].Domain != "mx.authmilter.test" {
		t.Errorf("our verifier: %+v %v", res, err)
	}
	if !strings.Contains(d.log.String(), "arc_sealers=1:lists.test:pass") {
		t.Errorf("log line lacks the sealers:\n%s", d.log.String())
	}
}
