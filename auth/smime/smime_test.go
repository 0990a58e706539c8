package smime

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/mime"
)

func testClock() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }

// detached returns the signed content and the DER signature of a
// clear-signed test message.
func detached(t *testing.T, name string) (content, sig []byte) {
	t.Helper()
	raw, err := os.ReadFile("../bodysig/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(raw, []byte("\r\n\r\n"))
	body := raw[i+4:]
	j := bytes.Index(body, []byte("\r\n------"))
	body = body[j+2:]
	k := bytes.Index(body, []byte("\r\n"))
	delim := body[:k]
	parts := bytes.Split(body, delim)
	content = bytes.TrimSuffix(bytes.TrimPrefix(parts[1], []byte("\r\n")), []byte("\r\n"))
	sigPart := parts[2][bytes.Index(parts[2], []byte("\r\n\r\n"))+4:]
	sig, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(sigPart)))
	if err != nil {
		t.Fatal(err)
	}
	return content, sig
}

func testRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile("../bodysig/testdata/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pem)
	return p
}

func TestVerifyDetached(t *testing.T) {
	content, sig := detached(t, "smime-detached.eml")
	badSig := append([]byte(nil), sig...)
	badSig[len(badSig)-1] ^= 1 // the last byte of the signature value
	more := append(append([]byte(nil), content...), ' ')
	alice := []string{"alice@example.test"}
	v := New(Options{Roots: testRoots(t), Now: testClock})
	tests := []struct {
		name    string
		micalg  string
		content []byte
		sig     []byte
		from    []string
		want    mime.Status
		reason  string
	}{
		{"pass", "sha-256", content, sig, []string{"Alice@Example.TEST"}, mime.StatusPass, ""},
		{"micalg missing", "", content, sig, alice, mime.StatusPass, ""},
		{"micalg wrong", "sha-1", content, sig, alice, mime.StatusPass, ""},
		{"one byte more", "sha-256", more, sig, alice, mime.StatusFail, "digest mismatch"},
		{"signature changed", "sha-256", content, badSig, alice, mime.StatusFail, "bad signature"},
		{"other author", "sha-256", content, sig, []string{"bob@example.test"}, mime.StatusPolicy, "From address"},
		{"no author", "sha-256", content, sig, nil, mime.StatusPolicy, "From address"},
	}
	for _, tt := range tests {
		d := NewDigester(tt.micalg)
		d.Write(tt.content)
		rs := v.VerifyDetached(context.Background(), "2", tt.sig, d, tt.from)
		if len(rs) != 1 || rs[0].Result != tt.want || !strings.Contains(rs[0].Reason, tt.reason) || rs[0].Part != "2" {
			t.Errorf("%s: got %+v, want %s (%s)", tt.name, rs, tt.want, tt.reason)
		}
	}
}

func TestLimits(t *testing.T) {
	content, sig := detached(t, "smime-detached.eml")
	d := NewDigester("sha-256")
	d.Write(content)
	// The signature carries two certificates (alice and the CA).
	rs := New(Options{Roots: testRoots(t), Now: testClock, MaxCertificates: 1}).VerifyDetached(context.Background(), "1", sig, d, nil)
	if len(rs) != 1 || rs[0].Result != mime.StatusPermerror || !strings.Contains(rs[0].Reason, "certificates") {
		t.Errorf("certificate limit: %+v", rs)
	}
	rs = New(Options{Roots: testRoots(t), Now: testClock, MaxRSABits: 1024}).VerifyDetached(context.Background(), "1", sig, d, nil)
	if len(rs) != 1 || rs[0].Result != mime.StatusPermerror || !strings.Contains(rs[0].Reason, "more than 1024") ||
		rs[0].Issuer != "" {
		t.Errorf("RSA size limit: %+v", rs)
	}
	// Checked at a time after the certificate expired.
	late := func() time.Time { return time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC) }
	rs = New(Options{Roots: testRoots(t), Now: late}).VerifyDetached(context.Background(), "1", sig, d, []string{"alice@example.test"})
	if len(rs) != 1 || rs[0].Result != mime.StatusPolicy || !strings.Contains(rs[0].Reason, "expired") {
		t.Errorf("expired: %+v", rs)
	}
}

func TestIsEnveloped(t *testing.T) {
	raw, err := os.ReadFile("../bodysig/testdata/smime-encrypted.eml")
	if err != nil {
		t.Fatal(err)
	}
	body := raw[bytes.Index(raw, []byte("\r\n\r\n"))+4:]
	der, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if !IsEnveloped(der) {
		t.Error("enveloped data not recognised")
	}
	_, sig := detached(t, "smime-detached.eml")
	if IsEnveloped(sig) || IsEnveloped(nil) {
		t.Error("signed data or nothing taken for enveloped data")
	}
}
