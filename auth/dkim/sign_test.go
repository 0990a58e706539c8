package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

var signRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// testSignKeys are an RSA-2048 and an Ed25519 key for example.com, with a
// resolver publishing them.
func testSignKeys(t testing.TB) ([]SignKey, *fakeResolver) {
	t.Helper()
	keys := []SignKey{
		{Domain: "example.com", Selector: "rsa1", Key: signRSAKey()},
		{Domain: "example.com", Selector: "ed1", Key: testEdKey},
	}
	r := newFakeResolver()
	for _, k := range keys {
		rec, err := KeyRecord(k.Key)
		if err != nil {
			t.Fatal(err)
		}
		r.add(k.Selector+"._domainkey."+k.Domain, rec)
	}
	return keys, r
}

// oddHeader has unusual but legal spacing: no space after the colon,
// two spaces, a tab, a folded field, trailing whitespace, mixed case names.
const oddHeader = "From:alice@example.com\r\n" +
	"To:  bob@example.net ,\r\n\t carol@example.net\r\n" +
	"subject:\tHello   there  \r\n" +
	"Date: Mon, 7 Dec 2026 16:00:00 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"X-Folded: a\r\n  b\r\n\tc\r\n" +
	"Received: from x by y; Mon, 7 Dec 2026 16:00:00 +0000\r\n" +
	"References: <0@example.com>\r\n"

const oddBody = "Hi  Bob,\r\n\r\n trailing spaces   \r\n\ttab line\r\n\r\n\r\n"

// signMessage signs header (CRLF fields) + body, writing the body in
// chunks of n, and returns the message with the signatures on top.
func signMessage(t testing.TB, opts SignOptions, header, body string, n int) []byte {
	t.Helper()
	s, err := NewSigner(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range splitFields([]byte(header + "\r\n")) {
		s.Header(f)
	}
	b := []byte(body)
	for len(b) > 0 {
		k := min(n, len(b))
		s.Write(b[:k])
		b = b[k:]
	}
	values, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	var msg bytes.Buffer
	for _, v := range values {
		msg.WriteString("DKIM-Signature: " + v + "\r\n")
	}
	msg.WriteString(header + "\r\n" + body)
	return msg.Bytes()
}

var signCanons = []struct {
	name                     string
	simpleHeader, simpleBody bool
}{{"relaxed/relaxed", false, false}, {"simple/simple", true, true}, {"simple/relaxed", true, false}, {"relaxed/simple", false, true}}

func TestSignRoundTrip(t *testing.T) {
	keys, r := testSignKeys(t)
	bodies := map[string]string{"odd": oddBody, "empty": "", "no final CRLF": "x", "long": strings.Repeat("line of text  \r\n", 500)}
	for _, c := range signCanons {
		for bname, body := range bodies {
			for _, n := range []int{1, 7, 1 << 16} {
				opts := SignOptions{Keys: keys, SimpleHeader: c.simpleHeader, SimpleBody: c.simpleBody, Expire: time.Hour}
				msg := signMessage(t, opts, oddHeader, body, n)
				res := verifyAllChunkings(t, msg, Options{Resolver: r})
				if len(res) != 2 || res[0].Result != Pass || res[1].Result != Pass {
					t.Fatalf("%s, body %s, chunks %d: %+v\n%s", c.name, bname, n, res, msg)
				}
				if !bytes.Contains(msg, []byte("c="+c.name)) {
					t.Fatalf("no c=%s in\n%s", c.name, msg)
				}
			}
		}
	}
}

// A changed body or header, an added From or Subject (oversigned) breaks
// every signature.
func TestSignTamper(t *testing.T) {
	keys, r := testSignKeys(t)
	for _, c := range signCanons {
		msg := signMessage(t, SignOptions{Keys: keys, SimpleHeader: c.simpleHeader, SimpleBody: c.simpleBody}, oddHeader, oddBody, 1<<16)
		for name, tampered := range map[string][]byte{
			"body":          bytes.Replace(msg, []byte("Hi  Bob"), []byte("Hi  Bub"), 1),
			"subject":       bytes.Replace(msg, []byte("Hello"), []byte("Jello"), 1),
			"added subject": bytes.Replace(msg, []byte("\r\nDate: Mon"), []byte("\r\nSubject: evil\r\nDate: Mon"), 1),
			"added cc":      bytes.Replace(msg, []byte("\r\nDate: Mon"), []byte("\r\nCc: evil@example.org\r\nDate: Mon"), 1),
			"added refs":    bytes.Replace(msg, []byte("\r\nDate: Mon"), []byte("\r\nReferences: <e@x>\r\nDate: Mon"), 1),
		} {
			for i, res := range verifyAllChunkings(t, tampered, Options{Resolver: r}) {
				if res.Result != Fail {
					t.Errorf("%s, %s, signature %d: %+v", c.name, name, i, res)
				}
			}
		}
		// Received is not signed: adding one keeps the signatures.
		added := append([]byte("Received: from a by b; Mon, 7 Dec 2026 16:01:00 +0000\r\n"), msg...)
		for i, res := range verifyAllChunkings(t, added, Options{Resolver: r}) {
			if res.Result != Pass {
				t.Errorf("%s, added Received, signature %d: %+v", c.name, i, res)
			}
		}
	}
}

func TestSignHeaderList(t *testing.T) {
	keys, _ := testSignKeys(t)
	msg := signMessage(t, SignOptions{Keys: keys[1:], Now: func() time.Time { return time.Unix(1800000000, 0) }}, oddHeader, oddBody, 1<<16)
	fields := splitFields(msg)
	sig, err := parseSignature(strings.TrimSpace(strings.SplitN(fields[0], ":", 2)[1]))
	if err != nil {
		t.Fatal(err)
	}
	want := "From:From:Subject:Subject:Date:Date:Message-ID:Message-ID:To:To:Cc:Reply-To:" +
		"MIME-Version:Content-Type:Content-Transfer-Encoding:List-Unsubscribe:List-Unsubscribe-Post:" +
		"References:References"
	if got := strings.Join(sig.headers, ":"); got != want {
		t.Errorf("h=%s\nwant %s", got, want)
	}
	if sig.timestamp != 1800000000 || sig.expiration != -1 || sig.algorithm != "ed25519-sha256" {
		t.Errorf("t=%d x=%d a=%s", sig.timestamp, sig.expiration, sig.algorithm)
	}
	for _, line := range strings.Split(fields[0], "\r\n") {
		if len(line) > 78 {
			t.Errorf("line of %d characters: %q", len(line), line)
		}
	}
}

func TestSignRefuses(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 512)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner(SignOptions{Keys: []SignKey{{Domain: "example.com", Selector: "s", Key: small}}}); !errors.Is(err, ErrSign) || !strings.Contains(err.Error(), "512 bits") {
		t.Errorf("512-bit key: %v", err)
	}
	if _, err := NewSigner(SignOptions{Keys: []SignKey{{Domain: "example.com", Selector: "s", Key: testEdKey}}, Expire: time.Millisecond}); !errors.Is(err, ErrSign) {
		t.Errorf("expiry under a second: %v", err)
	}
	if _, err := NewSigner(SignOptions{}); !errors.Is(err, ErrSign) {
		t.Errorf("no keys: %v", err)
	}
	keys, _ := testSignKeys(t)
	if _, err := NewSigner(SignOptions{Keys: []SignKey{{Domain: "exa mple.com", Selector: "s", Key: keys[0].Key}}}); !errors.Is(err, ErrSign) {
		t.Errorf("bad domain: %v", err)
	}
	for name, header := range map[string]string{
		"no From":  "To: a@example.com\r\n",
		"two From": "From: a@example.com\r\nfrom: b@example.com\r\n",
	} {
		s, err := NewSigner(SignOptions{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range splitFields([]byte(header + "\r\n")) {
			s.Header(f)
		}
		if _, err := s.Close(); !errors.Is(err, ErrSign) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := s.Close(); !errors.Is(err, ErrSignerUsed) {
			t.Errorf("%s: second Close: %v", name, err)
		}
	}
}

// Header takes fields with LF folds and without a final line end, as a
// milter hands them over.
func TestSignHeaderLF(t *testing.T) {
	keys, r := testSignKeys(t)
	s, err := NewSigner(SignOptions{Keys: keys, SimpleHeader: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Header("From: a@example.com")
	s.Header("Subject: folded\n\tsubject\n")
	s.Write([]byte("body\r\n"))
	values, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	msg := "DKIM-Signature: " + values[0] + "\r\nDKIM-Signature: " + values[1] + "\r\n" +
		"From: a@example.com\r\nSubject: folded\r\n\tsubject\r\n\r\nbody\r\n"
	for i, res := range verifyAllChunkings(t, []byte(msg), Options{Resolver: r}) {
		if res.Result != Pass {
			t.Errorf("signature %d: %+v", i, res)
		}
	}
}

// TestSignDifferential has go-msgauth v0.7.0's verifier check what we sign.
func TestSignDifferential(t *testing.T) {
	keys, r := testSignKeys(t)
	lookup := func(name string) ([]string, error) { return r.LookupTXT(context.Background(), name) }
	for _, c := range signCanons {
		msg := signMessage(t, SignOptions{Keys: keys, SimpleHeader: c.simpleHeader, SimpleBody: c.simpleBody, Expire: time.Hour}, oddHeader, oddBody, 5)
		vs, err := msgauth.VerifyWithOptions(bytes.NewReader(msg), &msgauth.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 2 {
			t.Fatalf("%s: %v, %d verifications", c.name, err, len(vs))
		}
		for i, v := range vs {
			if v.Err != nil {
				t.Errorf("%s, signature %d: go-msgauth: %v\n%s", c.name, i, v.Err, msg)
			}
		}
	}
}

// pythonDKIM returns a Python interpreter with dkimpy, or skips the test.
func pythonDKIM(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import dkim").Run() == nil {
			return py
		}
	}
	t.Skip("dkimpy not installed (python3 -c 'import dkim' fails)")
	return ""
}

const dkimpyVerify = `
import sys, dkim
msg = open(sys.argv[1], "rb").read()
recs = {}
for a in sys.argv[2:]:
    k, v = a.split("=", 1)
    recs[k.encode()] = v.encode()
def dnsfunc(name, timeout=5):
    return recs.get(name.rstrip(b"."), b"")
d = dkim.DKIM(msg)
n = sum(l.lower().startswith(b"dkim-signature:") for l in msg.split(b"\r\n"))
print(" ".join(str(d.verify(idx=i, dnsfunc=dnsfunc)) for i in range(n)))
`

// TestSignDkimpy has dkimpy verify what we sign, when it is installed.
func TestSignDkimpy(t *testing.T) {
	py := pythonDKIM(t)
	keys, _ := testSignKeys(t)
	args := []string{"-c", dkimpyVerify, ""}
	for _, k := range keys {
		rec, _ := KeyRecord(k.Key)
		args = append(args, k.Selector+"._domainkey."+k.Domain+"="+rec)
	}
	dir := t.TempDir()
	for _, c := range signCanons {
		msg := signMessage(t, SignOptions{Keys: keys, SimpleHeader: c.simpleHeader, SimpleBody: c.simpleBody, Expire: time.Hour}, oddHeader, oddBody, 3)
		path := filepath.Join(dir, "msg")
		if err := os.WriteFile(path, msg, 0o600); err != nil {
			t.Fatal(err)
		}
		args[2] = path
		out, err := exec.Command(py, args...).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "True True" {
			t.Errorf("%s: dkimpy: %v: %s\n%s", c.name, err, out, msg)
		}
	}
}

func TestParseSigningKey(t *testing.T) {
	rsaKey, edKey := signRSAKey(), testEdKey
	pkcs8 := func(k crypto.Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	dir := t.TempDir()
	small, _ := rsa.GenerateKey(rand.Reader, 768)
	for name, tc := range map[string]struct {
		pem  []byte
		want crypto.Signer
		err  string
	}{
		"rsa pkcs1":   {pem: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), want: rsaKey},
		"rsa pkcs8":   {pem: pkcs8(rsaKey), want: rsaKey},
		"ed25519":     {pem: append([]byte("comment\n"), pkcs8(edKey)...), want: edKey},
		"small rsa":   {pem: pkcs8(small), err: "768 bits"},
		"not pem":     {pem: []byte("hello"), err: "no PEM private key"},
		"public only": {pem: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), err: "no PEM private key"},
		"garbage":     {pem: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}}), err: "PRIVATE KEY"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".pem")
		if err := os.WriteFile(path, tc.pem, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadSigningKey(path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: error %v, want one naming %s and %q", name, err, path, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if eq, ok := got.(interface{ Equal(crypto.PrivateKey) bool }); !ok || !eq.Equal(tc.want) {
			t.Errorf("%s: another key", name)
		}
	}
	if _, err := LoadSigningKey(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("missing file: %v", err)
	}
}

func benchmarkSign(b *testing.B, key SignKey) {
	body := bytes.Repeat([]byte("A line of body text, some 60 characters long, more or less.\r\n"), 10<<10/62)
	opts := SignOptions{Keys: []SignKey{key}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := NewSigner(opts)
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range splitFields([]byte(oddHeader + "\r\n")) {
			s.Header(f)
		}
		s.Write(body)
		if _, err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	b.Run("rsa2048", func(b *testing.B) {
		benchmarkSign(b, SignKey{Domain: "example.com", Selector: "rsa1", Key: signRSAKey()})
	})
	b.Run("ed25519", func(b *testing.B) {
		benchmarkSign(b, SignKey{Domain: "example.com", Selector: "ed1", Key: testEdKey})
	})
}

func TestSignHeaderLimit(t *testing.T) {
	s, err := NewSigner(SignOptions{Keys: []SignKey{{Domain: "example.com", Selector: "ed1", Key: testEdKey}}})
	if err != nil {
		t.Fatal(err)
	}
	s.Header("From: a@example.com\r\n")
	big := "X-Big: " + strings.Repeat("x", 1000) + "\r\n"
	for range MaxHeaderBytes/len(big) + 1 {
		s.Header(big)
	}
	if _, err := s.Close(); !errors.Is(err, ErrSignHeader) {
		t.Errorf("Close: %v", err)
	}
}

// FuzzSign: whatever header block and body it is given, a signature the
// Signer makes must pass our verifier.
func FuzzSign(f *testing.F) {
	f.Add([]byte(oddHeader), []byte(oddBody), false, true)
	f.Add([]byte("From: a@example.com\nSubject: x\n  y \n"), []byte("a\r\n\r\n \r\n"), true, false)
	f.Add([]byte("From:\r\nTo: a\rb\r\n"), []byte("\r"), true, true)
	f.Fuzz(func(t *testing.T, header, body []byte, simpleHeader, simpleBody bool) {
		if bytes.Contains(header, []byte("\n\n")) || bytes.Contains(header, []byte("\n\r\n")) {
			return
		}
		s, err := NewSigner(SignOptions{Keys: []SignKey{{Domain: "example.com", Selector: "ed1", Key: testEdKey}},
			SimpleHeader: simpleHeader, SimpleBody: simpleBody})
		if err != nil {
			t.Fatal(err)
		}
		fields := splitFields(append(bytes.Clone(header), "\r\n\r\n"...))
		var msg bytes.Buffer
		for _, f := range fields {
			if strings.HasPrefix(strings.ToLower(f), "dkim-signature") {
				return
			}
			s.Header(f)
		}
		s.Write(body)
		values, err := s.Close()
		if err != nil {
			return
		}
		msg.WriteString("DKIM-Signature: " + values[0] + "\r\n")
		for _, f := range fields {
			msg.WriteString(f)
		}
		msg.WriteString("\r\n")
		msg.Write(body)
		r := newFakeResolver()
		rec, _ := KeyRecord(testEdKey)
		r.add("ed1._domainkey.example.com", rec)
		res := NewVerifier(context.Background(), Options{Resolver: r})
		res.Write(msg.Bytes())
		if got := res.Close(); len(got) != 1 || got[0].Result != Pass {
			t.Fatalf("%+v\n%q", got, msg.Bytes())
		}
	})
}

func FuzzParseSigningKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParseSigningKey(data)
		if err == nil {
			if _, err := KeyRecord(key); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestSignExpire(t *testing.T) {
	keys, _ := testSignKeys(t)
	msg := signMessage(t, SignOptions{Keys: keys[:1], Expire: 90 * time.Minute, SimpleHeader: true,
		Now: func() time.Time { return time.Unix(1800000000, 0) }}, oddHeader, oddBody, 1<<16)
	sig, err := parseSignature(strings.TrimSpace(strings.SplitN(splitFields(msg)[0], ":", 2)[1]))
	if err != nil {
		t.Fatal(err)
	}
	if sig.timestamp != 1800000000 || sig.expiration != 1800005400 || sig.algorithm != "rsa-sha256" ||
		sig.headerCanon != "simple" || sig.bodyCanon != "relaxed" {
		t.Errorf("%+v", sig)
	}
}
