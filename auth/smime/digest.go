package smime

import (
	"crypto"
	_ "crypto/sha1" // SHA-1 digests are computed; policy decides about them
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"io"
	"strings"

	"github.com/authmilter/authmilter/auth/mime"
)

// Digester hashes the signed content of a multipart/signed as it streams,
// with the digest algorithms its micalg parameter names (RFC 8551 §3.5.3.2)
// and SHA-256 always, so that a wrong or missing micalg still verifies the
// usual signature.
type Digester struct {
	mime.Hashes
}

// NewDigester returns a Digester for a micalg parameter value.
func NewDigester(micalg string) *Digester {
	d := &Digester{}
	d.Add(crypto.SHA256)
	for _, name := range strings.Split(strings.ToLower(micalg), ",") {
		switch strings.TrimSpace(name) {
		case "sha-1", "sha1":
			d.Add(crypto.SHA1)
		case "sha-224":
			d.Add(crypto.SHA224)
		case "sha-384":
			d.Add(crypto.SHA384)
		case "sha-512":
			d.Add(crypto.SHA512)
		}
	}
	return d
}

// errNotHashed: the signature's digest algorithm is none the Digester used.
var errNotHashed = errors.New("smime: digest algorithm not announced in micalg")

// Hash returns the digest of the content with h; it makes the Digester a
// pkcs7.Hasher, which verifies against this digest instead of the content.
func (d *Digester) Hash(h crypto.Hash, _ io.Reader) ([]byte, error) {
	if x := d.Get(h); x != nil {
		return x.Sum(nil), nil
	}
	return nil, errNotHashed
}
