package dkim

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/authmilter/authmilter/auth/dns"
)

// LoadSigningKey reads a PEM private key from path: RSA as PKCS#1
// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"), Ed25519 as PKCS#8 (what
// `openssl genpkey -algorithm ed25519` writes). RSA keys under
// MinSignRSABits are refused. Errors name the file.
func LoadSigningKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dkim: signing key: %w", err)
	}
	key, err := ParseSigningKey(data)
	if err != nil {
		return nil, fmt.Errorf("dkim: signing key %s: %w", path, err)
	}
	return key, nil
}

// ParseSigningKey parses the first PEM private key block of data, as
// LoadSigningKey does.
func ParseSigningKey(data []byte) (crypto.Signer, error) {
	var block *pem.Block
	for {
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("no PEM private key block")
		}
		if block.Type == "RSA PRIVATE KEY" || block.Type == "PRIVATE KEY" {
			break
		}
	}
	var key any
	var err error
	if block.Type == "RSA PRIVATE KEY" {
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", block.Type, err)
	}
	var signer crypto.Signer
	switch k := key.(type) {
	case *rsa.PrivateKey:
		signer = k
	case ed25519.PrivateKey:
		signer = k
	default:
		return nil, fmt.Errorf("unsupported key type %T (RSA or Ed25519)", key)
	}
	if _, err := algorithm(signer); err != nil {
		return nil, err
	}
	return signer, nil
}

// KeyRecord returns the DNS TXT record publishing the public half of key
// (RFC 6376 §3.6.1; Ed25519: RFC 8463 §4.2, the bare 32-byte key).
func KeyRecord(key crypto.Signer) (string, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PrivateKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey)), nil
	}
	return "", fmt.Errorf("%w: unsupported key type %T", ErrSign, key)
}

// Errors of CheckPublished; each wraps ErrKeyCheck.
var (
	ErrKeyCheck     = errors.New("dkim: published key")
	ErrKeyMissing   = fmt.Errorf("%w: no key record", ErrKeyCheck)
	ErrKeyMismatch  = fmt.Errorf("%w: does not match the signing key", ErrKeyCheck)
	ErrKeyUnusable  = fmt.Errorf("%w: unusable record", ErrKeyCheck)
	ErrKeyTemporary = fmt.Errorf("%w: lookup failed", ErrKeyCheck)
)

// CheckPublished compares the private key of k with its published record
// at s._domainkey.d (RFC 6376 §3.6.2.1), looked up through r: a missing,
// revoked, malformed or different record is an error wrapping
// ErrKeyCheck, and a record a verifier would not use for k's signatures
// (h= without sha256, s= without email, t=y) too, as ErrKeyUnusable. A
// failed lookup other than "no such name" wraps ErrKeyTemporary.
func CheckPublished(ctx context.Context, r TXTResolver, k SignKey) error {
	name := k.Selector + "._domainkey." + k.Domain
	txts, err := r.LookupTXT(ctx, name)
	switch {
	case dns.IsNotFound(err):
		return fmt.Errorf("%w at %s", ErrKeyMissing, name)
	case err != nil:
		return fmt.Errorf("%w: %s: %v", ErrKeyTemporary, name, err)
	case len(txts) == 0:
		return fmt.Errorf("%w at %s", ErrKeyMissing, name)
	case len(txts) > 1:
		return fmt.Errorf("%w: %s: %d TXT records (one expected)", ErrKeyUnusable, name, len(txts))
	}
	rec, err := parseKeyRecord(txts[0])
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrKeyUnusable, name, err)
	}
	wantType := "rsa"
	if _, ok := k.Key.(ed25519.PrivateKey); ok {
		wantType = "ed25519"
	}
	pub, ok := k.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	switch {
	case rec.keyType != wantType:
		return fmt.Errorf("%w: %s: k=%s for an %s key", ErrKeyMismatch, name, rec.keyType, wantType)
	case !ok || !pub.Equal(rec.pub):
		return fmt.Errorf("%w: %s", ErrKeyMismatch, name)
	case !rec.allowsHash("sha256"):
		return fmt.Errorf("%w: %s: h= does not allow sha256", ErrKeyUnusable, name)
	case !rec.forEmail():
		return fmt.Errorf("%w: %s: s= does not allow email", ErrKeyUnusable, name)
	case rec.hasFlag("y"):
		return fmt.Errorf("%w: %s: t=y (testing: verifiers may ignore its signatures)", ErrKeyUnusable, name)
	}
	return nil
}
