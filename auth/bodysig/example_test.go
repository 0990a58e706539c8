package bodysig_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/authmilter/authmilter/auth/bodysig"
	"github.com/authmilter/authmilter/auth/openpgp"
	"github.com/authmilter/authmilter/auth/smime"
)

// A Checker is built once with the trusted CAs and keys; each message is
// fed as it streams and gives one result per signature at Close.
func Example() {
	pem, _ := os.ReadFile("testdata/ca.pem")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	f, _ := os.Open("testdata/keyring.asc")
	keys, _ := openpgp.ReadKeyring(f)
	f.Close()
	now := func() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }
	c := bodysig.New(bodysig.Options{
		SMIME:   smime.New(smime.Options{Roots: roots, Now: now}),
		OpenPGP: openpgp.New(openpgp.Options{Keys: keys, Now: now}),
	})

	// From the message header: Content-Type, Content-Transfer-Encoding,
	// From. Then the body, in chunks.
	m := c.NewMessage(context.Background(),
		`multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="pgp-b"`, "",
		bodysig.FromAddresses([]string{" Alice <alice@example.test>"}))
	raw, _ := os.ReadFile("testdata/pgpmime.eml")
	m.Write(raw[len("From: alice@example.test\r\nTo: bob@example.test\r\nSubject: pgpmime\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/signed; micalg=pgp-sha256;\r\n protocol=\"application/pgp-signature\"; boundary=\"pgp-b\"\r\n\r\n"):])
	for _, r := range m.Close() {
		fmt.Println(r.Method, r.Result, r.Part, r.Identifier, len(r.Fingerprint))
	}
	// Output: x-openpgp pass TEXT alice@example.test 40
}
