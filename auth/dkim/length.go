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
)

// lengthCheck handles a signature with l= (RFC 6376 §3.5 l=, §8.2), which
// go-msgauth refuses outright. It canonicalizes the body itself, counts it,
// and hashes the first l= octets; at the end of the message the signature
// passes only if l= covered the whole canonicalized body (doc.go).
type lengthCheck struct {
	bodyHash
	canon bodyCanonicalizer
}

func newLengthCheck(s *signature) *lengthCheck {
	c := &lengthCheck{bodyHash: bodyHash{h: sha256.New(), limit: s.length}}
	c.canon = newBodyCanonicalizer(s.bodyCanon == "relaxed", &c.bodyHash)
	return c
}

func (c *lengthCheck) Write(p []byte) { c.canon.write(p) }
func (c *lengthCheck) Close()         { c.canon.close() }

// verify gives the Result for the l= signature s with key k.
func (c *lengthCheck) verify(fields []string, s *sigState, k *keyRecord) (string, string) {
	if c.tooManyBreaks {
		return PermError, errHeldReason
	}
	switch {
	case c.n > c.limit:
		return Policy, fmt.Sprintf("l= leaves %d bytes unsigned", c.n-c.limit)
	case c.n < c.limit:
		// The body we have is shorter than the body that was signed: the
		// signature cannot be evaluated (OpenDKIM, too, rejects it).
		return PermError, "l= exceeds the body length"
	}
	bh, err := base64.StdEncoding.DecodeString(s.sig.bodyHash)
	if err != nil {
		return PermError, "malformed body hash"
	}
	if subtle.ConstantTimeCompare(c.h.Sum(nil), bh) != 1 {
		return Fail, "body hash did not verify"
	}
	b, err := base64.StdEncoding.DecodeString(s.sig.b)
	if err != nil {
		return PermError, "malformed signature"
	}
	sum := headerHash(fields, s.field, s.sig)
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum, b)
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, sum, b) { // RFC 8463 §3: Ed25519 over the SHA-256 hash
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
// without its final CRLF.
func headerHash(fields []string, sigField string, s *signature) []byte {
	h := sha256.New()
	used := make(map[string]int)
	for _, name := range s.headers {
		key := strings.ToLower(name)
		skip := used[key]
		used[key]++
		for i := len(fields) - 1; i >= 0; i-- {
			fname, _, _ := strings.Cut(fields[i], ":")
			if !strings.EqualFold(strings.TrimSpace(fname), key) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			h.Write([]byte(canonHeader(fields[i], s.headerCanon)))
			break
		}
	}
	f := canonHeader(emptyB(sigField), s.headerCanon)
	h.Write([]byte(strings.TrimSuffix(f, "\r\n")))
	return h.Sum(nil)
}

// canonHeader canonicalizes one field (ending in CRLF), §3.4.1 and §3.4.2:
// relaxed unfolds (CRLF removed), makes each run of WSP (SP, HTAB) one SP
// and deletes WSP at the start and end of the value. A CR not part of CRLF
// is not WSP and stays, as in the patched go-msgauth.
func canonHeader(f, canon string) string {
	if canon != "relaxed" {
		return f
	}
	name, value, _ := strings.Cut(f, ":")
	name = strings.ToLower(strings.TrimSpace(name))
	var b strings.Builder
	b.Grow(len(name) + len(value) + 3)
	b.WriteString(name)
	b.WriteByte(':')
	start, space := b.Len(), false
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case c == '\r' && i+1 < len(value) && value[i+1] == '\n':
			i++
		case c == ' ' || c == '\t':
			space = true
		default:
			if space && b.Len() > start {
				b.WriteByte(' ')
			}
			space = false
			b.WriteByte(c)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// emptyB deletes the value of the b= tag of a DKIM-Signature field,
// surrounding whitespace included (§3.5 b=, §3.7).
func emptyB(field string) string {
	name, value, _ := strings.Cut(field, ":")
	body := strings.TrimSuffix(value, "\r\n")
	specs := strings.Split(body, ";")
	for i, spec := range specs {
		tn, _, ok := strings.Cut(spec, "=")
		if ok && trimFWS(tn) == "b" {
			eq := strings.IndexByte(spec, '=')
			specs[i] = spec[:eq+1]
		}
	}
	return name + ":" + strings.Join(specs, ";") + "\r\n"
}
