package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
)

// lengthCheck handles a signature with l= (RFC 6376 §3.5 l=, §8.2), which
// go-msgauth refuses outright. It canonicalizes the body itself, counts it,
// and hashes the first l= octets; at the end of the message the signature
// passes only if l= covered the whole canonicalized body (doc.go).
type lengthCheck struct {
	limit int64
	n     int64 // canonicalized body octets seen
	h     hash.Hash
	canon bodyCanonicalizer
}

func newLengthCheck(s *signature) *lengthCheck {
	c := &lengthCheck{limit: s.length, h: sha256.New()}
	if s.bodyCanon == "relaxed" {
		c.canon = &relaxedBody{out: c.count}
	} else {
		c.canon = &simpleBody{out: c.count}
	}
	return c
}

func (c *lengthCheck) Write(p []byte) { c.canon.write(p) }
func (c *lengthCheck) Close()         { c.canon.close() }

func (c *lengthCheck) count(p []byte) {
	if c.n < c.limit {
		c.h.Write(p[:min(int64(len(p)), c.limit-c.n)])
	}
	c.n += int64(len(p))
}

// verify gives the Result for the l= signature s with key k.
func (c *lengthCheck) verify(fields []string, s *sigState, k *keyRecord) (string, string) {
	if rb, ok := c.canon.(*relaxedBody); ok && rb.overflow {
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

// bodyCanonicalizer is a streaming body canonicalization (§3.4.3, §3.4.4)
// writing its output to out. A bare LF is taken as CRLF, as go-msgauth does.
type bodyCanonicalizer interface {
	write(p []byte)
	close()
}

var crlf = []byte("\r\n")

// simpleBody: the body as is, trailing empty lines removed, ending in one
// CRLF ("\r\n" for an empty body).
type simpleBody struct {
	out     func([]byte)
	pending int  // CRLFs held back: they may be trailing empty lines
	cr      bool // a CR was seen, its LF may come in the next write
}

func (c *simpleBody) write(p []byte) {
	start := 0 // p[start:i] is content to emit
	flush := func(i int) {
		if start < i {
			c.out(p[start:i])
		}
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\r':
			flush(i)
			if c.cr { // the earlier CR was a lone one: content
				c.emitPending()
				c.out([]byte{'\r'})
			}
			c.cr, start = true, i+1
		case '\n':
			flush(i)
			c.cr, start = false, i+1
			c.pending++
		default:
			if c.cr || c.pending > 0 {
				flush(i)
				c.emitPending()
				if c.cr {
					c.out([]byte{'\r'})
					c.cr = false
				}
				start = i
			}
		}
	}
	flush(len(p))
}

func (c *simpleBody) emitPending() {
	for ; c.pending > 0; c.pending-- {
		c.out(crlf)
	}
}

func (c *simpleBody) close() {
	if c.cr {
		c.emitPending()
		c.out([]byte{'\r'})
	}
	c.out(crlf)
}

// relaxedBody: WSP runs become one SP, WSP at line ends is dropped,
// trailing empty lines are removed, a non-empty body ends in CRLF. Line
// break octets are held back until content follows; a lone CR is kept as
// go-msgauth keeps it. Held CRLFs are a count, written out from crlfRun
// when content follows; only breaks mixed with lone CRs are held as bytes,
// at most maxHeldBreaks of them (beyond, the signature is a permerror, as
// in the patched go-msgauth).
type relaxedBody struct {
	out      func([]byte)
	held     []byte // held-back CR/LF octets before the pairs (lone CRs only)
	pairs    int    // then this many CRLF
	cr       bool   // then one CR
	wsp      bool   // a WSP run is held back
	written  bool
	overflow bool // held would have passed maxHeldBreaks
	buf      []byte
}

// maxHeldBreaks bounds relaxedBody.held: the patched go-msgauth's bound.
const maxHeldBreaks = 1 << 20

// errHeldReason is the reason given for a body over maxHeldBreaks: the
// patched go-msgauth's error text.
const errHeldReason = "body has too many line breaks mixed with lone CRs"

// crlfRun is what held CRLFs are written from, a slice at a time.
var crlfRun = []byte(strings.Repeat("\r\n", 512))

// holdLoneCR holds back pairs CRLFs, then a lone CR.
func (c *relaxedBody) holdLoneCR(pairs int) {
	if len(c.held)+2*pairs+1 > maxHeldBreaks {
		c.overflow, c.held = true, nil
		return
	}
	for ; pairs > 0; pairs-- {
		c.held = append(c.held, crlf...)
	}
	c.held = append(c.held, '\r')
}

func (c *relaxedBody) write(p []byte) {
	if c.overflow {
		return // the result is permerror whatever follows
	}
	// Work on locals: field updates per octet would cost write barriers.
	buf, pairs, cr, wsp := c.buf[:0], c.pairs, c.cr, c.wsp
	for _, ch := range p {
		switch ch {
		case ' ', '\t':
			if cr { // a CR followed by WSP is a lone one (go-msgauth: "\r \n" is CR, SP, CRLF)
				c.holdLoneCR(pairs)
				pairs, cr = 0, false
			}
			wsp = true
		case '\r':
			wsp = false
			if cr { // the earlier CR is a lone one
				c.holdLoneCR(pairs)
				pairs = 0
			}
			cr = true
		case '\n': // CRLF, or a bare LF taken as CRLF
			wsp, cr = false, false
			pairs++
		default:
			if len(c.held) > 0 {
				buf = append(buf, c.held...)
				c.held = c.held[:0]
			}
			if pairs > len(crlfRun)/2 {
				// Many empty lines: written out in slices of crlfRun,
				// not copied into buf.
				if len(buf) > 0 {
					c.out(buf)
					buf = buf[:0]
				}
				for ; pairs > 0; pairs -= min(pairs, len(crlfRun)/2) {
					c.out(crlfRun[:2*min(pairs, len(crlfRun)/2)])
				}
				c.written = true
			}
			for ; pairs > 0; pairs-- {
				buf = append(buf, crlf...)
			}
			if cr {
				buf = append(buf, '\r')
				cr = false
			}
			if wsp {
				buf = append(buf, ' ')
				wsp = false
			}
			buf = append(buf, ch)
		}
		if c.overflow {
			return
		}
	}
	c.buf, c.pairs, c.cr, c.wsp = buf, pairs, cr, wsp
	if len(buf) > 0 {
		c.written = true
		c.out(buf)
	}
}

func (c *relaxedBody) close() {
	if c.written {
		c.out(crlf)
	}
}
