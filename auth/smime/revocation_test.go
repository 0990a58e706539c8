package smime

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/authmilter/authmilter/auth/mime"
)

// testPKI is a throwaway CA, a signer certificate it issued with a CRL
// distribution point, and a message signed with it.
type testPKI struct {
	ca     *x509.Certificate
	caKey  crypto.Signer
	signer *x509.Certificate
	signed []byte // opaque signed-data
}

const crlURL = "http://crl.example.test/ca.crl"

func newTestPKI(t *testing.T, dps ...string) *testPKI {
	t.Helper()
	return newTestPKIWith(t, func(c *x509.Certificate) { c.CRLDistributionPoints = dps })
}

// newTestPKIWith is newTestPKI with edit applied to the signer
// certificate's template.
func newTestPKIWith(t *testing.T, edit func(*x509.Certificate)) *testPKI {
	t.Helper()
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Revocation Test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234abcd), Subject: pkix.Name{CommonName: "Alice"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		EmailAddresses: []string{"alice@example.test"},
	}
	edit(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := x509.ParseCertificate(der)
	sd, err := pkcs7.NewSignedData([]byte("Content-Type: text/plain\r\n\r\nHello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(signer, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	signed, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{ca: ca, caKey: caKey, signer: signer, signed: signed}
}

// crl returns a CRL of p's CA (or of by, when set) listing serials.
func (p *testPKI) crl(t *testing.T, next time.Time, by *testPKI, serials ...int64) []byte {
	t.Helper()
	ca, key := p.ca, p.caKey
	if by != nil {
		ca, key = by.ca, by.caKey
	}
	rl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: next}
	for _, s := range serials {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, ca, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (p *testPKI) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// crlServer serves h for crl.example.test on loopback, through the client
// it returns.
func crlServer(t *testing.T, h http.HandlerFunc) (*http.Client, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, hostport string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(hostport); host != "crl.example.test" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	return &http.Client{Transport: tr}, &hits
}

func verifyRevocation(t *testing.T, p *testPKI, crls RevocationChecker) mime.Result {
	t.Helper()
	v := New(Options{Roots: p.roots(), Revocation: crls})
	rs := v.VerifyOpaque(context.Background(), "TEXT", p.signed, []string{"alice@example.test"})
	if len(rs) != 1 {
		t.Fatalf("%d results: %+v", len(rs), rs)
	}
	return rs[0]
}

func TestRevocationCRL(t *testing.T) {
	p := newTestPKI(t, "ldap://ldap.example.test/cn=ca", crlURL)
	other := newTestPKI(t)
	next := time.Now().Add(time.Hour)
	serial := p.signer.SerialNumber.Int64()
	tests := []struct {
		name    string
		h       http.HandlerFunc
		timeout time.Duration
		want    mime.Status
		reason  string
	}{
		{"not revoked", serve(p.crl(t, next, nil, 7, 8)), 0, mime.StatusPass, ""},
		{"revoked", serve(p.crl(t, next, nil, 7, serial)), 0, mime.StatusFail, "certificate revoked"},
		{"server error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }, 0,
			mime.StatusTemperror, "HTTP status 500"},
		{"not found", http.NotFound, 0, mime.StatusTemperror, "HTTP status 404"},
		{"signed by another CA", serve(p.crl(t, next, other, serial)), 0, mime.StatusTemperror, "not signed by the issuer"},
		{"out of date", serve(p.crl(t, time.Now().Add(-time.Second), nil)), 0, mime.StatusTemperror, "out of date"},
		{"garbage", serve([]byte("not a CRL")), 0, mime.StatusTemperror, "revocation check failed"},
		{"too large", serve(make([]byte, 9<<20)), 0, mime.StatusTemperror, "larger than"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, 200 * time.Millisecond, mime.StatusTemperror, "revocation check failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := crlServer(t, tt.h)
			start := time.Now()
			r := verifyRevocation(t, p, NewCRLs(CRLOptions{Client: client, Timeout: tt.timeout}))
			if r.Result != tt.want || !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("got %s (%s), want %s (%s)", r.Result, r.Reason, tt.want, tt.reason)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func serve(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.Write(b) }
}

// A CRL is kept until its nextUpdate or for MaxAge; a certificate without a
// distribution point, or an untrusted one, costs no request.
func TestRevocationCache(t *testing.T) {
	p := newTestPKI(t, crlURL)
	now := time.Now()
	var revoked atomic.Bool
	client, hits := crlServer(t, func(w http.ResponseWriter, r *http.Request) {
		var serials []int64
		if revoked.Load() {
			serials = append(serials, p.signer.SerialNumber.Int64())
		}
		w.Write(p.crl(t, now.Add(3*time.Hour), nil, serials...))
	})
	clock := now
	crls := NewCRLs(CRLOptions{Client: client, MaxAge: time.Hour, Now: func() time.Time { return clock }})
	check := func(want mime.Status, wantHits int32) {
		t.Helper()
		if r := verifyRevocation(t, p, crls); r.Result != want || hits.Load() != wantHits {
			t.Fatalf("got %s (%s) after %d requests, want %s after %d", r.Result, r.Reason, hits.Load(), want, wantHits)
		}
	}
	check(mime.StatusPass, 1)
	revoked.Store(true)
	check(mime.StatusPass, 1) // cached until nextUpdate, at most MaxAge
	clock = now.Add(61 * time.Minute)
	check(mime.StatusFail, 2)

	noDP := newTestPKI(t)
	if r := verifyRevocation(t, noDP, crls); r.Result != mime.StatusPass || hits.Load() != 2 {
		t.Errorf("no distribution point: %s (%s), %d requests", r.Result, r.Reason, hits.Load())
	}
	v := New(Options{Revocation: crls})
	if rs := v.VerifyOpaque(context.Background(), "TEXT", p.signed, []string{"alice@example.test"}); rs[0].Result != mime.StatusPolicy || hits.Load() != 2 {
		t.Errorf("untrusted: %s (%s), %d requests", rs[0].Result, rs[0].Reason, hits.Load())
	}
}
