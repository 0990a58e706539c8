package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// bodyState is one body hash (RFC 6376 §3.7) taken while the body streams
// in: one per distinct body canonicalization and l= among a message's
// signatures, shared by the signatures that have them.
type bodyState struct {
	relaxed bool
	bodyHash
	canon bodyCanonicalizer
	sum   []byte // the hash, once the body has ended
}

// bodyFor returns the body hash for signature s, set up when first asked.
func (v *Verifier) bodyFor(s *signature) *bodyState {
	relaxed := s.bodyCanon == "relaxed"
	for _, b := range v.bodies {
		if b.relaxed == relaxed && b.limit == s.length {
			return b
		}
	}
	b := newBodyState(relaxed, s.length)
	v.bodies = append(v.bodies, b)
	return b
}

// newBodyState returns a body hash for the given canonicalization and l=
// (-1: none).
func newBodyState(relaxed bool, limit int64) *bodyState {
	b := &bodyState{relaxed: relaxed, bodyHash: bodyHash{h: sha256.New(), limit: limit}}
	b.canon = newBodyCanonicalizer(relaxed, &b.bodyHash)
	return b
}

// close ends the body (more than once is harmless).
func (b *bodyState) close() {
	if b.sum == nil {
		b.canon.close()
		b.sum = b.h.Sum(nil)
	}
}

// check verifies signature s with key k once the body has ended (RFC 6376
// §6.1.3): l= first (doc.go), then the body hash, then the signature over
// the header hash.
func check(s *sigState, k *keyRecord) (Status, string) {
	b, sig := s.body, s.sig
	if b.tooManyBreaks {
		return PermError, errHeldReason
	}
	if sig.length >= 0 {
		switch {
		case b.n > sig.length:
			return Policy, fmt.Sprintf("l= leaves %d bytes unsigned", b.n-sig.length)
		case b.n < sig.length:
			// The body we have is shorter than the body that was signed:
			// the signature cannot be evaluated (OpenDKIM, too, rejects it).
			return PermError, "l= exceeds the body length"
		}
	}
	bh, err := base64.StdEncoding.DecodeString(sig.bodyHash)
	if err != nil {
		return PermError, "malformed body hash"
	}
	value, err := base64.StdEncoding.DecodeString(sig.b)
	if err != nil {
		return PermError, "malformed signature"
	}
	if subtle.ConstantTimeCompare(b.sum, bh) != 1 {
		return Fail, "body hash did not verify"
	}
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, s.headerHash[:], value)
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, s.headerHash[:], value) { // RFC 8463 §3: Ed25519 over the SHA-256 hash
			err = fmt.Errorf("invalid Ed25519 signature")
		}
	}
	if err != nil {
		return Fail, "signature did not verify"
	}
	return Pass, ""
}

// headerHash computes the SHA-256 header hash of RFC 6376 §3.7: the fields
// named in h= (picked bottom-up, §5.4.2; absent ones contribute nothing),
// canonicalized, then the DKIM-Signature field with its b= value emptied and
// without its final CRLF. buf is scratch space, returned for reuse.
func headerHash(fields *fieldIndex, sigField string, s *signature, buf []byte) ([sha256.Size]byte, []byte) {
	relaxed := s.headerCanon == "relaxed"
	buf = fields.appendPicked(buf, s.headers, relaxed)
	buf = appendCanonHeader(buf, emptyB(sigField), relaxed)
	buf = buf[:len(buf)-2] // its CRLF
	return sha256.Sum256(buf), buf
}

// fieldIndex finds header fields by name for the header hashes: for each
// name the bottom-most field, and for each field the next one up with the
// same name, so that picking an h= name costs the same however many fields
// and names there are. Names match as strings.EqualFold matches them.
type fieldIndex struct {
	fields []string
	last   map[string]int // foldKey(name) → index of its bottom-most field
	prev   []int          // field i → the next field up with its name, or -1
}

func newFieldIndex(fields []string) *fieldIndex {
	x := &fieldIndex{fields: fields, last: make(map[string]int, len(fields)), prev: make([]int, len(fields))}
	for i, f := range fields {
		name, _, _ := strings.Cut(f, ":")
		key := foldKey(strings.TrimSpace(name))
		x.prev[i] = -1
		if j, ok := x.last[key]; ok {
			x.prev[i] = j
		}
		x.last[key] = i
	}
	return x
}

// pick returns the field that the next occurrence of name in h= stands
// for, or -1. next carries the state between the names of one h=: for each
// name, lower-cased as go-msgauth keys it, the next field up to use (so "ſ"
// starts again from the bottom after "s", as there).
func (x *fieldIndex) pick(next map[string]int, name string) int {
	lower := strings.ToLower(name)
	i, ok := next[lower]
	if !ok {
		if i, ok = x.last[foldKey(lower)]; !ok {
			i = -1
		}
	}
	if i >= 0 {
		next[lower] = x.prev[i]
	}
	return i
}

// appendPicked appends, in order, the fields the names of one h= stand
// for (each name picks the next field up, RFC 6376 §5.4.2; a name past
// the fields present picks none), canonicalized.
func (x *fieldIndex) appendPicked(buf []byte, names []string, relaxed bool) []byte {
	next := make(map[string]int, len(names))
	for _, name := range names {
		if i := x.pick(next, name); i >= 0 {
			buf = appendCanonHeader(buf, x.fields[i], relaxed)
		}
	}
	return buf
}

// foldKey maps a name to a key equal for two names exactly when
// strings.EqualFold says they are equal: each rune (an invalid octet is
// utf8.RuneError) becomes the least rune of its Unicode simple-folding
// orbit; for ASCII, the upper case letter.
func foldKey(name string) string {
	ascii, upper := true, true
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 0x80:
			ascii = false
		case 'a' <= c && c <= 'z':
			upper = false
		}
	}
	if ascii && upper {
		return name
	}
	b := make([]byte, 0, len(name))
	for _, r := range name {
		if r < 0x80 {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b = append(b, byte(r))
			continue
		}
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b = utf8.AppendRune(b, least)
	}
	return string(b)
}

// appendCanonHeader appends field f (ending in CRLF) canonicalized, §3.4.1
// and §3.4.2: relaxed lower-cases the name, unfolds (CRLF removed), makes
// each run of WSP (SP, HTAB) one SP and deletes WSP at the start and end of
// the value. A CR not part of CRLF is not WSP and stays, as dkimpy and
// Mail::DKIM keep it (go-msgauth v0.7.0 and OpenDKIM take it for WSP).
func appendCanonHeader(dst []byte, f string, relaxed bool) []byte {
	if !relaxed {
		return append(dst, f...)
	}
	name, value, _ := strings.Cut(f, ":")
	name = strings.TrimSpace(name)
	if !isASCII(name) {
		name = strings.ToLower(name) // as go-msgauth does; field names are ASCII (RFC 5322 §2.2)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	start, space := len(dst), false
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case c == '\r' && i+1 < len(value) && value[i+1] == '\n':
			i++
		case c == ' ' || c == '\t':
			space = true
		default:
			if space && len(dst) > start {
				dst = append(dst, ' ')
			}
			space = false
			dst = append(dst, c)
		}
	}
	return append(dst, crlf...)
}

// emptyB deletes the value of the b= tag of a DKIM-Signature field,
// surrounding whitespace included (§3.5 b=, §3.7), and of that tag only:
// tag names are whole (§3.2), so a tag such as zb= keeps its value.
func emptyB(field string) string {
	name, value, _ := strings.Cut(field, ":")
	body := strings.TrimSuffix(value, "\r\n")
	specs := strings.Split(body, ";")
	for i, spec := range specs {
		tn, _, ok := strings.Cut(spec, "=")
		if ok && trimFWS(tn) == "b" {
			specs[i] = spec[:len(tn)+1]
		}
	}
	return name + ":" + strings.Join(specs, ";") + "\r\n"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
