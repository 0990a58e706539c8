package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

// revocationCA is a throwaway email CA whose certificates name a CRL
// distribution point on a loopback HTTP server.
type revocationCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

func newRevocationCA(t *testing.T, dir string) *revocationCA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "E2E Revocation CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &revocationCA{cert: cert, key: key}
}

// sign returns the base64 detached signature of signedPart by a new
// certificate for alice@pass.test with the given serial and CRL URL.
func (ca *revocationCA) sign(t *testing.T, serial int64, crlURL string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "Alice"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		EmailAddresses: []string{"alice@pass.test"}, CRLDistributionPoints: []string{crlURL},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	ee, _ := x509.ParseCertificate(der)
	sd, err := pkcs7.NewSignedData([]byte(signedPart))
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(ee, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	sd.Detach()
	sig, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return wrap76(base64.StdEncoding.EncodeToString(sig))
}

func (ca *revocationCA) crl(t *testing.T, revoked ...int64) []byte {
	t.Helper()
	rl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range revoked {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestEndToEndSMIMERevocation: with smime.revocation = "crl", through real
// Postfix, a signature whose certificate the CA's CRL lists is reported
// smime=fail (certificate revoked) and, its domain being in
// require_signed with a reject action, rejected; one whose CRL cannot be
// fetched is a temperror and tempfailed (451), never rejected; one whose
// certificate is not listed passes and is delivered.
func TestEndToEndSMIMERevocation(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	w := newE2EWorld(t)
	dir := t.TempDir()
	ca := newRevocationCA(t, dir)
	crl := ca.crl(t, 0x51)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ca.crl" {
			rw.Write(crl)
			return
		}
		http.Error(rw, "unavailable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	// e2eConfig with require_signed in its [policy] table.
	conf := strings.Replace(e2eConfig, "[policy]\n", "[policy]\nrequire_signed = [\"pass.test\"]\nrequire_signed_action = \"reject\"\n", 1)
	d := startDaemon(t, w.dns.Addr, conf+
		"[smime]\nca_file = \""+filepath.Join(dir, "ca.pem")+"\"\nrevocation = \"crl\"\nrevocation_timeout = \"2s\"\n")
	m := startPostfix(t, d.Addr)
	cases := []struct {
		name, mid, sig, reply, field string
	}{
		{"revoked", "<revoked@pass.test>", ca.sign(t, 0x51, srv.URL+"/ca.crl"), "550 5.7.1 Mail from pass.test must be signed", ""},
		{"CRL unavailable", "<nocrl@pass.test>", ca.sign(t, 0x52, srv.URL+"/down.crl"), "451 4.7.1 Signature check of mail from pass.test failed temporarily", ""},
		{"not revoked", "<good@pass.test>", ca.sign(t, 0x53, srv.URL+"/ca.crl"), "250",
			"smime=pass body.smime-identifier=alice@pass.test body.smime-part=TEXT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := signedMessage(t, w, c.mid, "application/pkcs7-signature", "sha-256",
				"application/pkcs7-signature; name=smime.p7s", "base64", c.sig)
			s := dialSMTP(t, m, "127.0.0.1", "client.test")
			if r := s.Send(t, "bounce@pass.test", "u@rcpt.test", msg); !strings.HasPrefix(r, c.reply) {
				t.Fatalf("reply %q, want %q", r, c.reply)
			}
			if c.field == "" {
				return
			}
			fields := ourFieldBytes(m.Delivered(t, c.mid))
			if len(fields) != 2 || !strings.Contains(fields[1], c.field) {
				t.Fatalf("fields %q, want a second one with %q", fields, c.field)
			}
		})
	}
	log := d.log.String()
	for _, want := range []string{"smime=fail:TEXT:alice@pass.test", "smime=temperror:TEXT"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
