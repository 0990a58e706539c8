package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"

	lru "github.com/hashicorp/golang-lru/v2"
)

// keyRecord is a parsed DKIM key record (RFC 6376 §3.6.1, RFC 8463 §4).
type keyRecord struct {
	keyType  string   // k=: "rsa" (default) or "ed25519"
	hashes   []string // h=: acceptable hash algorithms; nil means all
	services []string // s=: nil means "*"
	flags    []string // t=
	pub      crypto.PublicKey
	bits     int // RSA modulus length, 256 for Ed25519
}

// parsedKeys caches parseKeyRecord by record text: the same few keys come
// back message after message, and parsing one (base64, and ASN.1 for RSA)
// cost ~2% of the daemon's CPU. A keyRecord is not changed after parsing.
// At most parsedKeysMax records of up to parsedKeyMaxLen octets are kept.
var parsedKeys, _ = lru.New[string, parsedKey](parsedKeysMax)

const (
	parsedKeysMax   = 512
	parsedKeyMaxLen = 4096
)

type parsedKey struct {
	k   *keyRecord
	err error
}

// parseKeyRecordCached is parseKeyRecord through parsedKeys.
func parseKeyRecordCached(txt string) (*keyRecord, error) {
	if p, ok := parsedKeys.Get(txt); ok {
		return p.k, p.err
	}
	k, err := parseKeyRecord(txt)
	if len(txt) <= parsedKeyMaxLen {
		parsedKeys.Add(txt, parsedKey{k, err})
	}
	return k, err
}

// parseKeyRecord parses the text of one TXT record (its strings already
// joined). Errors wrap ErrTagList, ErrKeyRecord or ErrKeyRevoked.
func parseKeyRecord(txt string) (*keyRecord, error) {
	tags, err := parseTagList(txt)
	if err != nil {
		return nil, err
	}
	// §3.6.1 v=: if present it must be "DKIM1".
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return nil, fmt.Errorf("%w: unsupported version v=%s", ErrKeyRecord, shorten(v))
	}
	k := &keyRecord{keyType: "rsa"}
	if kt, ok := tags["k"]; ok {
		k.keyType = stripFWS(kt)
	}
	if h, ok := tags["h"]; ok {
		k.hashes = splitColonList(h)
	}
	if s, ok := tags["s"]; ok {
		k.services = splitColonList(s)
		if slices.Contains(k.services, "*") {
			k.services = nil
		}
	}
	if t, ok := tags["t"]; ok {
		k.flags = splitColonList(t)
	}
	p, ok := tags["p"]
	if !ok {
		return nil, fmt.Errorf("%w: no p= tag", ErrKeyRecord)
	}
	p = stripFWS(p)
	if p == "" {
		return nil, ErrKeyRevoked
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: p= is not base64", ErrKeyRecord)
	}
	switch k.keyType {
	case "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			// RFC 6376 erratum 3017: RSAPublicKey is seen in the wild too.
			pub, err = x509.ParsePKCS1PublicKey(der)
			if err != nil {
				return nil, fmt.Errorf("%w: p= is not an RSA public key", ErrKeyRecord)
			}
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: k=rsa but p= is not an RSA key", ErrKeyRecord)
		}
		k.pub, k.bits = rk, rk.N.BitLen()
	case "ed25519":
		// RFC 8463 §4.2: p= is the bare 32-byte public key.
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 key of %d bytes", ErrKeyRecord, len(der))
		}
		k.pub, k.bits = ed25519.PublicKey(der), 256
	default:
		return nil, fmt.Errorf("%w: unknown key type k=%s", ErrKeyRecord, shorten(k.keyType))
	}
	return k, nil
}

// allowsHash reports whether the key's h= accepts hash algorithm h.
func (k *keyRecord) allowsHash(h string) bool {
	return k.hashes == nil || slices.Contains(k.hashes, h)
}

// forEmail reports whether s= allows the key for email (§3.6.1 s=).
func (k *keyRecord) forEmail() bool {
	return k.services == nil || slices.Contains(k.services, "email")
}

// hasFlag reports whether t= carries flag f ("y" testing, "s" strict).
func (k *keyRecord) hasFlag(f string) bool { return slices.Contains(k.flags, f) }
