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

// KeyCache keeps parsed key records by record text, for the verifications
// that share it (Options.Keys): the same few keys come back message after
// message, and parsing one (base64, and ASN.1 for RSA) costs more than
// finding its record in a warm DNS cache. Errors are kept too. A parsed
// record is not changed after parsing, so concurrent verifications share
// it. At most the cache's size in records of up to maxCachedKeyLen octets
// are kept, the least recently used going first. It is safe for concurrent
// use.
type KeyCache struct {
	lru *lru.Cache[string, parsedKey]
}

// DefaultKeyCacheSize is NewKeyCache's size when given 0.
const DefaultKeyCacheSize = 512

// maxCachedKeyLen bounds the record text a KeyCache keeps (a 4096-bit RSA
// key record is ~750 octets).
const maxCachedKeyLen = 4096

type parsedKey struct {
	k   *keyRecord
	err error
}

// NewKeyCache returns a cache of up to size parsed key records
// (DefaultKeyCacheSize when size <= 0).
func NewKeyCache(size int) *KeyCache {
	if size <= 0 {
		size = DefaultKeyCacheSize
	}
	c, _ := lru.New[string, parsedKey](size) // fails only for size <= 0
	return &KeyCache{lru: c}
}

// parse is parseKeyRecord through the cache; a nil cache parses every time.
func (c *KeyCache) parse(txt string) (*keyRecord, error) {
	if c == nil {
		return parseKeyRecord(txt)
	}
	if p, ok := c.lru.Get(txt); ok {
		return p.k, p.err
	}
	k, err := parseKeyRecord(txt)
	if len(txt) <= maxCachedKeyLen {
		c.lru.Add(txt, parsedKey{k, err})
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
