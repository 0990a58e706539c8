package smime

import (
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/authmilter/authmilter/auth/mime"
)

const ocspURL = "http://crl.example.test/ocsp"

// ocspAnswer returns an OCSP response for p's signer, signed by by's CA
// (p's when nil).
func (p *testPKI) ocspAnswer(t *testing.T, status int, next time.Time, by *testPKI) []byte {
	t.Helper()
	ca, key := p.ca, p.caKey
	if by != nil {
		ca, key = by.ca, by.caKey
	}
	tmpl := ocsp.Response{Status: status, SerialNumber: p.signer.SerialNumber,
		ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: next}
	if status == ocsp.Revoked {
		tmpl.RevokedAt = time.Now().Add(-time.Hour)
	}
	der, err := ocsp.CreateResponse(ca, ca, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestRevocationOCSP(t *testing.T) {
	p := newTestPKIWith(t, func(c *x509.Certificate) { c.OCSPServer = []string{"ldap://x.example.test/", ocspURL} })
	other := newTestPKI(t)
	next := time.Now().Add(time.Hour)
	tests := []struct {
		name   string
		h      http.HandlerFunc
		want   mime.Status
		reason string
	}{
		{"good", serve(p.ocspAnswer(t, ocsp.Good, next, nil)), mime.StatusPass, ""},
		{"revoked", serve(p.ocspAnswer(t, ocsp.Revoked, next, nil)), mime.StatusFail, "certificate revoked"},
		{"unknown", serve(p.ocspAnswer(t, ocsp.Unknown, next, nil)), mime.StatusTemperror, "does not know"},
		{"signed by another CA", serve(p.ocspAnswer(t, ocsp.Good, next, other)), mime.StatusTemperror, "revocation check failed"},
		{"out of date", serve(p.ocspAnswer(t, ocsp.Good, time.Now().Add(-time.Second), nil)), mime.StatusTemperror, "out of date"},
		{"server error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }, mime.StatusTemperror, "HTTP status 500"},
		{"too large", serve(make([]byte, 70<<10)), mime.StatusTemperror, "larger than"},
		{"garbage", serve([]byte("nope")), mime.StatusTemperror, "revocation check failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := crlServer(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/ocsp-request" {
					http.Error(w, "bad request", 400)
					return
				}
				if _, err := ocsp.ParseRequest(body); err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				tt.h(w, r)
			})
			r := verifyRevocation(t, p, NewOCSP(OCSPOptions{Client: client}))
			if r.Result != tt.want || !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("got %s (%s), want %s (%s)", r.Result, r.Reason, tt.want, tt.reason)
			}
		})
	}
}

// An answer is kept until its nextUpdate; a certificate without an OCSP
// responder goes to the fallback.
func TestRevocationOCSPCacheAndFallback(t *testing.T) {
	p := newTestPKIWith(t, func(c *x509.Certificate) { c.OCSPServer = []string{ocspURL} })
	now := time.Now()
	client, hits := crlServer(t, serve(p.ocspAnswer(t, ocsp.Good, now.Add(30*time.Minute), nil)))
	clock := now
	o := NewOCSP(OCSPOptions{Client: client, Now: func() time.Time { return clock }})
	for i, want := range []int32{1, 1} {
		if r := verifyRevocation(t, p, o); r.Result != mime.StatusPass || hits.Load() != want {
			t.Fatalf("check %d: %s (%s), %d requests", i, r.Result, r.Reason, hits.Load())
		}
	}
	clock = now.Add(31 * time.Minute) // past nextUpdate: asked again, and the answer is out of date
	if r := verifyRevocation(t, p, o); r.Result != mime.StatusTemperror || hits.Load() != 2 {
		t.Fatalf("after nextUpdate: %s (%s), %d requests", r.Result, r.Reason, hits.Load())
	}

	q := newTestPKI(t, crlURL)
	crlClient, crlHits := crlServer(t, serve(q.crl(t, now.Add(time.Hour), nil, q.signer.SerialNumber.Int64())))
	o = NewOCSP(OCSPOptions{Client: client, Fallback: NewCRLs(CRLOptions{Client: crlClient})})
	if r := verifyRevocation(t, q, o); r.Result != mime.StatusFail || crlHits.Load() != 1 {
		t.Fatalf("fallback: %s (%s), %d CRL requests", r.Result, r.Reason, crlHits.Load())
	}
}
