package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/smallstep/pkcs7"
)

// signedPart is the first body part of both signed messages: what the
// signature covers, MIME header included, without the CRLF before the
// next delimiter (RFC 1847 §2.1).
const signedPart = "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" +
	"Hello Bob,\r\nthis part is signed.\r\n"

// smimeMaterial makes a throwaway CA and an end-entity certificate for
// alice@pass.test (emailProtection, serial 1234ABCD), writes the CA to
// dir/ca.pem and returns the base64 of a detached SHA-256 CMS signature of
// signedPart.
func smimeMaterial(t *testing.T, dir string) string {
	t.Helper()
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "E2E S-MIME CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	eeTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234ABCD), Subject: pkix.Name{CommonName: "Alice"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		EmailAddresses: []string{"alice@pass.test"},
	}
	eeDER, err := x509.CreateCertificate(rand.Reader, eeTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ee, _ := x509.ParseCertificate(eeDER)
	sd, err := pkcs7.NewSignedData([]byte(signedPart))
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(ee, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	sd.AddCertificate(ca)
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return wrap76(base64.StdEncoding.EncodeToString(der))
}

// pgpMaterial makes a throwaway OpenPGP key for Alice <alice@pass.test>,
// writes its public key to dir/keyring.asc and returns the armored
// detached signature of signedPart and the key's fingerprint.
func pgpMaterial(t *testing.T, dir string) (sig, fingerprint string) {
	t.Helper()
	e, err := pgp.NewEntity("Alice", "", "alice@pass.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, "PGP PUBLIC KEY BLOCK", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.WriteFile(filepath.Join(dir, "keyring.asc"), pub.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var s bytes.Buffer
	if err := pgp.ArmoredDetachSign(&s, e, strings.NewReader(signedPart), nil); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.ReplaceAll(s.String(), "\r\n", "\n"), "\n", "\r\n"),
		strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return b.String() + s + "\r\n"
}

// signedMessage is a multipart/signed message from alice@pass.test with
// the given protocol, micalg and signature part, DKIM-signed by pass.test;
// extra header fields go first.
func signedMessage(t *testing.T, w *e2eWorld, mid, protocol, micalg, sigType, sigCTE, sig string, extra ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("From: Alice <alice@pass.test>\r\nTo: u@rcpt.test\r\nSubject: signed\r\nMessage-ID: " + mid + "\r\n" +
		"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/signed; protocol=\"" + protocol + "\"; micalg=" + micalg + ";\r\n boundary=\"sig-b\"\r\n\r\n" +
		"This is a signed message.\r\n--sig-b\r\n" + signedPart + "\r\n--sig-b\r\n" +
		"Content-Type: " + sigType + "\r\n")
	if sigCTE != "" {
		b.WriteString("Content-Transfer-Encoding: " + sigCTE + "\r\n")
	}
	b.WriteString("\r\n" + sig + "\r\n--sig-b--\r\n")
	return w.sign(t, b.Bytes(), dkim.CanonicalizationRelaxed)
}

// TestEndToEndSignatures: an S/MIME-signed and a PGP/MIME-signed message
// through real Postfix and Sendmail are delivered with our SPF/DKIM/DMARC field and,
// below it, a second field with the signature result, byte for byte; a
// forged second field of ours is removed.
func TestEndToEndSignatures(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	w := newE2EWorld(t)
	dir := t.TempDir()
	smimeSig := smimeMaterial(t, dir)
	pgpSig, fpr := pgpMaterial(t, dir)
	d := startDaemon(t, w.dns.Addr, e2eConfig+"[smime]\nca_file = \""+filepath.Join(dir, "ca.pem")+"\"\n"+
		"[openpgp]\nkeyring = [\""+filepath.Join(dir, "keyring.asc")+"\"]\n")
	cases := []struct {
		name, mid string
		msg       func(mid string) []byte
		want      string
	}{
		{"smime", "<smime.e2e@pass.test>", func(mid string) []byte {
			return signedMessage(t, w, mid, "application/pkcs7-signature", "sha-256",
				"application/pkcs7-signature; name=smime.p7s", "base64", smimeSig,
				"Authentication-Results: "+e2eAuthservID+"; smime=pass body.smime-identifier=mallory@pass.test")
		}, "Authentication-Results: " + e2eAuthservID + ";\n" +
			"\tsmime=pass body.smime-identifier=alice@pass.test body.smime-part=TEXT\n" +
			"\tbody.smime-serial=1234ABCD body.smime-issuer=\"CN=E2E S-MIME CA\"\n"},
		{"openpgp", "<openpgp.e2e@pass.test>", func(mid string) []byte {
			return signedMessage(t, w, mid, "application/pgp-signature", "pgp-sha256",
				"application/pgp-signature; name=signature.asc", "", pgpSig)
		}, "Authentication-Results: " + e2eAuthservID + ";\n" +
			"\tx-openpgp=pass body.x-openpgp-identifier=alice@pass.test\n" +
			"\tbody.x-openpgp-part=TEXT\n" +
			"\tbody.x-openpgp-fingerprint=" + fpr + "\n"},
	}
	for _, start := range []func(*testing.T, string) *mta{startPostfix, startSendmail} {
		m := start(t, d.Addr)
		for _, c := range cases {
			t.Run(m.Name+"/"+c.name, func(t *testing.T) {
				mid := strings.Replace(c.mid, "@", "."+m.Name+"@", 1)
				msg := c.msg(mid)
				s := dialSMTP(t, m, "127.0.0.1", "client.test")
				if r := s.Send(t, "bounce@pass.test", "u@rcpt.test", msg); !strings.HasPrefix(r, "250") {
					t.Fatalf("reply %q, want 250", r)
				}
				got := m.Delivered(t, mid)
				fields := ourFieldBytes(got)
				if len(fields) != 2 {
					t.Fatalf("%d A-R fields of ours, want 2 (the forged one removed):\n%s", len(fields), got)
				}
				mustBytes(t, "our A-R", fields[:1], passAR(headerB(t, msg)), got)
				mustBytes(t, "signature A-R", fields[1:], c.want, got)
				// The signed part arrives unchanged.
				if !strings.Contains(strings.ReplaceAll(got, "\r\n", "\n"), strings.ReplaceAll(signedPart, "\r\n", "\n")) {
					t.Errorf("signed part altered:\n%s", got)
				}
			})
		}
	}
	if log := d.log.String(); !strings.Contains(log, "smime=pass:TEXT:alice@pass.test") ||
		!strings.Contains(log, "openpgp=pass:TEXT:alice@pass.test") {
		t.Errorf("log lacks the signature results:\n%s", log)
	}
}

// TestEndToEndSignatureTrustReload: smime.ca_file is read again at a
// reload (SIGHUP), also when the configuration itself did not change: a
// signature by a CA not in the file is policy before, pass after the file
// is replaced.
func TestEndToEndSignatureTrustReload(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	w := newE2EWorld(t)
	other, dir := t.TempDir(), t.TempDir()
	smimeMaterial(t, other) // an unrelated CA
	sig := smimeMaterial(t, dir)
	caFile := filepath.Join(t.TempDir(), "email-ca.pem")
	copyFile := func(from string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(caFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(filepath.Join(other, "ca.pem"))
	d := startDaemon(t, w.dns.Addr, e2eConfig+"[smime]\nca_file = \""+caFile+"\"\n")
	m := startPostfix(t, d.Addr)
	send := func(mid string) string {
		msg := signedMessage(t, w, mid, "application/pkcs7-signature", "sha-256",
			"application/pkcs7-signature; name=smime.p7s", "base64", sig)
		s := dialSMTP(t, m, "127.0.0.1", "client.test")
		if r := s.Send(t, "bounce@pass.test", "u@rcpt.test", msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("reply %q, want 250", r)
		}
		got := m.Delivered(t, mid)
		fields := ourFieldBytes(got)
		if len(fields) != 2 {
			t.Fatalf("%d A-R fields of ours, want 2:\n%s", len(fields), got)
		}
		return fields[1]
	}
	if f := send("<reload1@pass.test>"); !strings.Contains(f, "smime=policy (untrusted") {
		t.Errorf("before the reload: %q, want smime=policy", f)
	}
	copyFile(filepath.Join(dir, "ca.pem"))
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, d, "configuration reloaded")
	if f := send("<reload2@pass.test>"); !strings.Contains(f, "smime=pass body.smime-identifier=alice@pass.test") {
		t.Errorf("after the reload: %q, want smime=pass", f)
	}
}
