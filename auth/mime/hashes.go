package mime

import (
	"crypto"
	"hash"
)

// Hashes runs several hash algorithms over the same bytes, as they
// stream: the signed content of a part, whose signature names its
// algorithm only after the content (a micalg parameter or an armor header
// announces the likely ones). Each algorithm is added once.
type Hashes struct {
	algs   []crypto.Hash
	hashes []hash.Hash
}

// Add starts hashing with a from the next Write on (a second Add of the
// same algorithm does nothing).
func (h *Hashes) Add(a crypto.Hash) {
	for _, x := range h.algs {
		if x == a {
			return
		}
	}
	h.algs = append(h.algs, a)
	h.hashes = append(h.hashes, a.New())
}

// Write hashes the next bytes with every algorithm.
func (h *Hashes) Write(p []byte) (int, error) {
	for _, x := range h.hashes {
		x.Write(p)
	}
	return len(p), nil
}

// Get returns the running hash of a, or nil when a was not added.
func (h *Hashes) Get(a crypto.Hash) hash.Hash {
	for i, x := range h.algs {
		if x == a {
			return h.hashes[i]
		}
	}
	return nil
}
