package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
)

// The exported wrappers in this file exist for ARC (RFC 8617, package
// auth/arc), whose ARC-Message-Signature and ARC-Seal reuse DKIM's tag
// lists, canonicalization, key records and signature algorithms (RFC 8617
// §4.1.2, §4.1.3). ARC uses them; DKIM verification does not.

// ParseTagList parses an RFC 6376 §3.2 tag-list; duplicate tags are an
// error. ARC uses it.
func ParseTagList(s string) (map[string]string, error) { return parseTagList(s) }

// AppendCanonHeader appends field f (ending in CRLF) in simple or relaxed
// header canonicalization (RFC 6376 §3.4.1, §3.4.2). ARC uses it.
func AppendCanonHeader(dst []byte, f string, relaxed bool) []byte {
	return appendCanonHeader(dst, f, relaxed)
}

// EmptyB returns the signature field f with the value of its b= tag
// deleted (RFC 6376 §3.7). ARC uses it for both its signatures.
func EmptyB(f string) string { return emptyB(f) }

// BodyHasher is a streaming SHA-256 body hash in simple or relaxed body
// canonicalization (RFC 6376 §3.4.3, §3.4.4, §3.7). ARC uses it.
type BodyHasher struct{ b *bodyState }

// NewBodyHasher returns a body hash over the first limit canonicalized
// octets (all when limit < 0).
func NewBodyHasher(relaxed bool, limit int64) *BodyHasher {
	return &BodyHasher{b: newBodyState(relaxed, limit)}
}

// Relaxed reports the body canonicalization; Limit the l= octets (-1: all).
func (h *BodyHasher) Relaxed() bool { return h.b.relaxed }

// Limit is the l= octet count the hash was made for (-1: all).
func (h *BodyHasher) Limit() int64 { return h.b.limit }

// Write adds body octets; it never fails.
func (h *BodyHasher) Write(p []byte) (int, error) {
	if h.b.sum == nil {
		h.b.canon.write(p)
	}
	return len(p), nil
}

// Sum ends the body and returns its hash and the canonicalized length. ok
// is false when the body hash is unusable (too many held line breaks).
func (h *BodyHasher) Sum() (sum []byte, n int64, ok bool) {
	h.b.close()
	return h.b.sum, h.b.n, !h.b.tooManyBreaks
}

// Key is a parsed DKIM key record (RFC 6376 §3.6.1). ARC uses it.
type Key struct{ k *keyRecord }

// ParseKey parses a key record's text through cache c (nil: no cache), so
// DKIM and ARC share parsed keys. ARC uses it.
func (c *KeyCache) ParseKey(txt string) (*Key, error) {
	k, err := c.parse(txt)
	if err != nil {
		return nil, err
	}
	return &Key{k: k}, nil
}

// Type is k= ("rsa" or "ed25519").
func (k *Key) Type() string { return k.k.keyType }

// Bits is the RSA modulus length (256 for Ed25519).
func (k *Key) Bits() int { return k.k.bits }

// AllowsHash reports whether h= accepts hash algorithm h.
func (k *Key) AllowsHash(h string) bool { return k.k.allowsHash(h) }

// ForEmail reports whether s= allows the key for email.
func (k *Key) ForEmail() bool { return k.k.forEmail() }

// errBadSignature is VerifySHA256's failure.
var errBadSignature = errors.New("dkim: signature did not verify")

// VerifySHA256 checks sig over the SHA-256 hash hashed: RSASSA-PKCS1-v1_5
// for RSA keys, Ed25519 over the hash for Ed25519 keys (RFC 8463 §3).
func (k *Key) VerifySHA256(hashed []byte, sig []byte) error {
	switch pub := k.k.pub.(type) {
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, hashed, sig) != nil {
			return errBadSignature
		}
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, hashed, sig) {
			return errBadSignature
		}
	default:
		return errBadSignature
	}
	return nil
}

// HeaderFields returns the message's header fields, top first, each
// ending in CRLF, once the header block has ended; nil before, or when the
// block was too large to verify. ARC uses them, so that a message's header
// is split once.
func (v *Verifier) HeaderFields() []string { return v.fields }

// FoldTags joins tag-specs ("a=rsa-sha256", ..., "b=") with "; " into the
// value of field name as the signer folds it: CRLF TAB before a spec that
// would pass column 78 and after "b=" (filled in later by FoldB), an h=
// list broken at its colons. ARC uses it for
// its signatures, so that they are folded like our DKIM-Signature.
func FoldTags(name string, specs ...string) string { return foldTags(name, specs...) }

// FoldB folds a b= value (base64) into lines of at most 72 characters,
// each after CRLF TAB, as the signer does. ARC uses it.
func FoldB(b string) string { return foldB(b) }

// SignSHA256 signs the SHA-256 hash sum with key as the signer does:
// RSASSA-PKCS1-v1_5 for an *rsa.PrivateKey, Ed25519 over the hash for an
// ed25519.PrivateKey (RFC 8463 §3). ARC uses it.
func SignSHA256(key crypto.Signer, sum []byte) ([]byte, error) { return signSum(key, sum) }

// SignAlgorithm returns the a= value the signer uses for key
// ("rsa-sha256" for an RSA key of at least MinSignRSABits bits,
// "ed25519-sha256" for an Ed25519 key), or an error wrapping ErrSign for
// a key it does not sign with. ARC uses it for its seal key.
func SignAlgorithm(key crypto.Signer) (string, error) { return algorithm(key) }

// ValidDomain reports whether d is a domain name as d= and s= take it
// (dot-separated labels of letters, digits, '-' and '_'). ARC uses it.
func ValidDomain(d string) bool { return validDomain(d) }

// AppendSignedFields appends the header fields (top first, each ending in
// CRLF) that the names of an h= list select, as the DKIM verifier selects
// them (RFC 6376 §5.4.2: each name the next field up; a name past the
// fields present, none), in relaxed or simple canonicalization. ARC's
// ARC-Message-Signature uses it (RFC 8617 §4.1.2).
func AppendSignedFields(dst []byte, fields, names []string, relaxed bool) []byte {
	return newFieldIndex(fields).appendPicked(dst, names, relaxed)
}
