package smime

import (
	"crypto"
	_ "crypto/sha1" // SHA-1 digests are computed; policy decides about them
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"hash"
	"io"
	"strings"
)

// Digester hashes the signed content of a multipart/signed as it streams,
// with the digest algorithms its micalg parameter names (RFC 8551 §3.5.3.2)
// and SHA-256 always, so that a wrong or missing micalg still verifies the
// usual signature.
type Digester struct {
	algs   []crypto.Hash
	hashes []hash.Hash
}

// NewDigester returns a Digester for a micalg parameter value.
func NewDigester(micalg string) *Digester {
	d := &Digester{}
	d.add(crypto.SHA256)
	for _, name := range strings.Split(strings.ToLower(micalg), ",") {
		switch strings.TrimSpace(name) {
		case "sha-1", "sha1":
			d.add(crypto.SHA1)
		case "sha-224":
			d.add(crypto.SHA224)
		case "sha-384":
			d.add(crypto.SHA384)
		case "sha-512":
			d.add(crypto.SHA512)
		}
	}
	return d
}

func (d *Digester) add(h crypto.Hash) {
	for _, a := range d.algs {
		if a == h {
			return
		}
	}
	d.algs = append(d.algs, h)
	d.hashes = append(d.hashes, h.New())
}

// Write hashes the next bytes of the signed content.
func (d *Digester) Write(p []byte) (int, error) {
	for _, h := range d.hashes {
		h.Write(p)
	}
	return len(p), nil
}

// errNotHashed: the signature's digest algorithm is none the Digester used.
var errNotHashed = errors.New("smime: digest algorithm not announced in micalg")

// Hash returns the digest of the content with h; it makes the Digester a
// pkcs7.Hasher, which verifies against this digest instead of the content.
func (d *Digester) Hash(h crypto.Hash, _ io.Reader) ([]byte, error) {
	for i, a := range d.algs {
		if a == h {
			return d.hashes[i].Sum(nil), nil
		}
	}
	return nil, errNotHashed
}
