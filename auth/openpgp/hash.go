package openpgp

import (
	"crypto"
	_ "crypto/sha256" // the hashes OpenPGP signatures use
	_ "crypto/sha512"
	"errors"
	"hash"
	"strings"
)

// Hasher hashes signed text as it streams, with the algorithms a micalg
// parameter ("pgp-sha256", RFC 3156 §5) or a cleartext Hash header names,
// and SHA-256 and SHA-512 always.
type Hasher struct {
	algs   []crypto.Hash
	hashes []hash.Hash
}

// NewHasher returns a Hasher for a micalg value or a Hash armor header
// (names with or without the "pgp-" prefix, comma-separated).
func NewHasher(names string) *Hasher {
	h := &Hasher{}
	h.add(crypto.SHA256)
	h.add(crypto.SHA512)
	for _, n := range strings.Split(strings.ToLower(names), ",") {
		switch strings.TrimPrefix(strings.TrimSpace(n), "pgp-") {
		case "sha224":
			h.add(crypto.SHA224)
		case "sha384":
			h.add(crypto.SHA384)
		}
	}
	return h
}

func (h *Hasher) add(a crypto.Hash) {
	for _, x := range h.algs {
		if x == a {
			return
		}
	}
	h.algs = append(h.algs, a)
	h.hashes = append(h.hashes, a.New())
}

// Write hashes the next bytes of the signed text.
func (h *Hasher) Write(p []byte) (int, error) {
	for _, x := range h.hashes {
		x.Write(p)
	}
	return len(p), nil
}

var errNotHashed = errors.New("openpgp: the signature's hash algorithm was not computed")

// clone returns a copy of the running hash for a, which a signature check
// then finishes.
func (h *Hasher) clone(a crypto.Hash) (hash.Hash, error) {
	for i, x := range h.algs {
		if x != a {
			continue
		}
		c, ok := h.hashes[i].(hash.Cloner)
		if !ok {
			return nil, errNotHashed
		}
		return c.Clone()
	}
	return nil, errNotHashed
}
