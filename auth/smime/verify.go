package smime

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/mime"
	"github.com/smallstep/pkcs7"
)

// Options configure a Verifier. Zero values take the defaults.
type Options struct {
	// Roots are the CAs trusted for email (an organisation's CA, an email
	// trust bundle). nil: no signature is trusted, and valid ones are
	// "policy".
	Roots *x509.CertPool
	// Revocation, when set, checks a trusted signer certificate (not its
	// CAs): revoked is "fail", a check that cannot be made "temperror".
	Revocation RevocationChecker
	// MaxCertificates bounds the certificates one signature may carry
	// (default 16); MaxSigners the signers verified (default 4).
	MaxCertificates int
	MaxSigners      int
	// MinRSABits and MaxRSABits bound signer RSA keys (default 2048 and
	// 8192): a smaller key is "policy", a larger one is not verified.
	MinRSABits int
	MaxRSABits int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verifier verifies S/MIME signatures. It is safe for concurrent use.
type Verifier struct{ o Options }

// New returns a Verifier.
func New(o Options) *Verifier {
	if o.MaxCertificates <= 0 {
		o.MaxCertificates = 16
	}
	if o.MaxSigners <= 0 {
		o.MaxSigners = 4
	}
	if o.MinRSABits <= 0 {
		o.MinRSABits = 2048
	}
	if o.MaxRSABits <= 0 {
		o.MaxRSABits = 8192
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{o: o}
}

// VerifyDetached verifies the DER (or BER) CMS SignedData of a
// clear-signed message against the digest of its signed content. from
// lists the author addresses; part names the signed entity. It returns one
// result per signer.
// ctx bounds the revocation check.
func (v *Verifier) VerifyDetached(ctx context.Context, part string, sig []byte, d *Digester, from []string) []mime.Result {
	return v.verify(ctx, part, sig, d, from)
}

// VerifyOpaque verifies an application/pkcs7-mime signed-data object,
// which carries its content.
func (v *Verifier) VerifyOpaque(ctx context.Context, part string, der []byte, from []string) []mime.Result {
	return v.verify(ctx, part, der, nil, from)
}

var oidEnvelopedPrefix = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07}

// IsEnveloped reports whether a CMS object is enveloped (encrypted) data
// (RFC 5652 §6: id-envelopedData, or id-ct-authEnvelopedData of RFC 5083),
// from the content type at its start.
func IsEnveloped(der []byte) bool {
	head := der[:min(len(der), 24)]
	i := bytes.Index(head, oidEnvelopedPrefix)
	if i >= 0 && i+len(oidEnvelopedPrefix) < len(head) && head[i+len(oidEnvelopedPrefix)] == 3 {
		return true
	}
	// id-ct-authEnvelopedData 1.2.840.113549.1.9.16.1.23
	return bytes.Contains(head, []byte{0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17})
}

func (v *Verifier) verify(ctx context.Context, part string, der []byte, d *Digester, from []string) (rs []mime.Result) {
	res := func(s mime.Status, reason string) []mime.Result {
		return []mime.Result{{Method: mime.MethodSMIME, Result: s, Part: part, Reason: reason}}
	}
	defer func() {
		// The CMS parser sees hostile input; a panic in it is a parse error.
		if p := recover(); p != nil {
			rs = res(mime.StatusPermerror, fmt.Sprintf("CMS parser failed: %v", p))
		}
	}()
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return res(mime.StatusPermerror, "unparsable CMS: "+firstLine(err))
	}
	switch {
	case len(p7.Signers) == 0:
		return res(mime.StatusPermerror, "CMS object has no signers")
	case len(p7.Certificates) > v.o.MaxCertificates:
		return res(mime.StatusPermerror, fmt.Sprintf("%d certificates, more than %d", len(p7.Certificates), v.o.MaxCertificates))
	case d == nil && len(p7.Content) == 0:
		return res(mime.StatusPermerror, "opaque signed-data without content")
	}
	for _, c := range p7.Certificates {
		// Every certificate may be used in a chain check: none may cost
		// more than a signer's key may.
		if rk, ok := c.PublicKey.(*rsa.PublicKey); ok && rk.N.BitLen() > v.o.MaxRSABits {
			return res(mime.StatusPermerror, fmt.Sprintf("a certificate has an RSA key of %d bits, more than %d",
				rk.N.BitLen(), v.o.MaxRSABits))
		}
	}
	now := v.o.Now()
	for i := range p7.Signers {
		if i == v.o.MaxSigners {
			rs = append(rs, mime.Result{Method: mime.MethodSMIME, Result: mime.StatusNeutral, Part: part,
				Reason: fmt.Sprintf("%d more signers not verified", len(p7.Signers)-i)})
			break
		}
		one := *p7
		one.Signers = p7.Signers[i : i+1]
		rs = append(rs, v.signer(ctx, part, &one, d, from, now))
	}
	return rs
}

// signer verifies one signer of p7 (which has only that one).
func (v *Verifier) signer(ctx context.Context, part string, p7 *pkcs7.PKCS7, d *Digester, from []string, now time.Time) mime.Result {
	r := mime.Result{Method: mime.MethodSMIME, Part: part}
	cert := p7.GetOnlySigner()
	if cert == nil {
		r.Result, r.Reason = mime.StatusPermerror, "no certificate for the signer"
		return r
	}
	r.Issuer = cert.Issuer.String()
	r.Serial = strings.ToUpper(cert.SerialNumber.Text(16))
	r.Identifier = identifier(cert, from)
	if err := checkSignature(p7, d, now); err != nil {
		r.Result, r.Reason = classify(err)
		return r
	}
	if rk, ok := cert.PublicKey.(*rsa.PublicKey); ok && rk.N.BitLen() < v.o.MinRSABits {
		r.Result, r.Reason = mime.StatusPolicy, fmt.Sprintf("RSA key of %d bits, fewer than %d", rk.N.BitLen(), v.o.MinRSABits)
		return r
	}
	issuer, reason := v.trust(cert, p7.Certificates, now)
	if reason != "" {
		r.Result, r.Reason = mime.StatusPolicy, reason
		return r
	}
	if v.o.Revocation != nil {
		// RFC 5280 §6.3; RFC 8550 §4.2 leaves the revocation check to the
		// receiver.
		switch err := v.o.Revocation.Check(ctx, cert, issuer); {
		case errors.Is(err, ErrRevoked):
			r.Result, r.Reason = mime.StatusFail, "certificate revoked"
			return r
		case err != nil:
			r.Result, r.Reason = mime.StatusTemperror, "revocation check failed: "+firstLine(err)
			return r
		}
	}
	if fromAddress(emails(cert), from) == "" {
		r.Result = mime.StatusPolicy
		r.Reason = "the certificate does not name the From address"
		return r
	}
	r.Result = mime.StatusPass
	return r
}

// checkSignature checks the signature of p7's one signer: over the
// content's digest (d) or over its embedded content (d nil).
func checkSignature(p7 *pkcs7.PKCS7, d *Digester, now time.Time) error {
	si := p7.Signers[0]
	if d == nil || len(si.AuthenticatedAttributes) > 0 {
		// The messageDigest attribute is compared with the content's
		// digest (d's, when the content is detached), then the signature
		// over the attributes is checked (RFC 5652 §5.4).
		q := withoutValidity(p7)
		if d != nil {
			q.Hasher, q.Content = d, nil
		}
		return q.VerifyWithChainAtTime(nil, now)
	}
	// No signed attributes: the signature is over the content digest
	// itself (RFC 5652 §5.4), which the library cannot take.
	h, ok := hashForOID(si.DigestAlgorithm.Algorithm)
	if !ok {
		return errUnsupported
	}
	digest, err := d.Hash(h, nil)
	if err != nil {
		return err
	}
	switch pub := p7.GetOnlySigner().PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, h, digest, si.EncryptedDigest)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, si.EncryptedDigest) {
			return errBadSignature
		}
		return nil
	case ed25519.PublicKey:
		return errUnsupported
	}
	return errUnsupported
}

// withoutValidity returns a copy of p7 whose signer certificate has no
// validity period. The library compares the signing time the message
// claims with it and then skips the signature; the signature is checked
// here whatever the claimed time, and the validity as of now (trust).
func withoutValidity(p7 *pkcs7.PKCS7) *pkcs7.PKCS7 {
	q := *p7
	signer := p7.GetOnlySigner()
	q.Certificates = make([]*x509.Certificate, len(p7.Certificates))
	for i, c := range p7.Certificates {
		if c == signer {
			open := *c
			open.NotBefore, open.NotAfter = time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
			c = &open
		}
		q.Certificates[i] = c
	}
	return &q
}

var (
	errUnsupported  = errors.New("smime: unsupported signature algorithm")
	errBadSignature = errors.New("smime: signature verification failure")
)

func hashForOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(pkcs7.OIDDigestAlgorithmSHA1):
		return crypto.SHA1, true
	case oid.Equal(pkcs7.OIDDigestAlgorithmSHA224):
		return crypto.SHA224, true
	case oid.Equal(pkcs7.OIDDigestAlgorithmSHA256):
		return crypto.SHA256, true
	case oid.Equal(pkcs7.OIDDigestAlgorithmSHA384):
		return crypto.SHA384, true
	case oid.Equal(pkcs7.OIDDigestAlgorithmSHA512):
		return crypto.SHA512, true
	}
	return 0, false
}

// classify maps a signature check error to a result: the content or the
// signature does not match → fail; a weak algorithm → policy; anything the
// library cannot evaluate → permerror.
func classify(err error) (mime.Status, string) {
	var mismatch *pkcs7.MessageDigestMismatchError
	var insecure x509.InsecureAlgorithmError
	msg := firstLine(err)
	switch {
	case errors.As(err, &mismatch):
		return mime.StatusFail, "content digest mismatch"
	case errors.As(err, &insecure):
		return mime.StatusPolicy, "insecure algorithm: " + msg
	case errors.Is(err, rsa.ErrVerification), errors.Is(err, errBadSignature),
		strings.Contains(msg, "verification failure"):
		return mime.StatusFail, "bad signature: " + msg
	case errors.Is(err, errNotHashed):
		return mime.StatusPermerror, msg
	}
	return mime.StatusPermerror, msg
}

// trust checks the signer certificate as of now (not as of the signing time
// the message claims): a chain to Roots through the certificates the
// message carries, the email-protection extended key usage on every
// certificate of the chain (RFC 8550 §4.4.4) and a key usage that allows
// signing (RFC 8550 §4.4.2). It returns the certificate's issuer in the
// chain (cert itself when it is a root), or why it is not trusted.
func (v *Verifier) trust(cert *x509.Certificate, certs []*x509.Certificate, now time.Time) (*x509.Certificate, string) {
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, "the certificate's key usage does not allow signing"
	}
	if v.o.Roots == nil {
		return nil, "no trusted CA configured"
	}
	inter := x509.NewCertPool()
	for _, c := range certs {
		if c != cert {
			inter.AddCert(c)
		}
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots: v.o.Roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	})
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	switch {
	case err == nil:
		if c := chains[0]; len(c) > 1 {
			return c[1], ""
		}
		return cert, ""
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return nil, "certificate expired or not yet valid"
	case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
		return nil, "certificate not valid for email protection"
	case errors.As(err, &unknown):
		return nil, "untrusted: certificate signed by an unknown authority"
	}
	return nil, "untrusted: " + firstLine(err)
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
