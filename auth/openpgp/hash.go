package openpgp

import (
	"crypto"
	_ "crypto/sha256" // the hashes OpenPGP signatures use
	_ "crypto/sha512"
	"errors"
	"hash"
	"strings"

	"github.com/authmilter/authmilter/auth/mime"
)

// Hasher hashes signed text as it streams, with the algorithms a micalg
// parameter ("pgp-sha256", RFC 3156 §5) or a cleartext Hash header names,
// and SHA-256 and SHA-512 always.
type Hasher struct {
	mime.Hashes
}

// NewHasher returns a Hasher for a micalg value or a Hash armor header
// (names with or without the "pgp-" prefix, comma-separated).
func NewHasher(names string) *Hasher {
	h := &Hasher{}
	h.Add(crypto.SHA256)
	h.Add(crypto.SHA512)
	for _, n := range strings.Split(strings.ToLower(names), ",") {
		switch strings.TrimPrefix(strings.TrimSpace(n), "pgp-") {
		case "sha224":
			h.Add(crypto.SHA224)
		case "sha384":
			h.Add(crypto.SHA384)
		}
	}
	return h
}

var errNotHashed = errors.New("openpgp: the signature's hash algorithm was not computed")

// clone returns a copy of the running hash for a, which a signature check
// then finishes.
func (h *Hasher) clone(a crypto.Hash) (hash.Hash, error) {
	c, ok := h.Get(a).(hash.Cloner)
	if !ok {
		return nil, errNotHashed
	}
	return c.Clone()
}
