package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signing (RFC 6376 §5, RFC 8463 for Ed25519). The signer shares the body
// canonicalizers and the header hash with the verifier, so that what we
// sign is hashed by exactly the code that checks it.

// Errors of the signer; each wraps ErrSign.
var (
	ErrSign       = errors.New("dkim: cannot sign")
	ErrNoFrom     = fmt.Errorf("%w: no From field", ErrSign)
	ErrManyFrom   = fmt.Errorf("%w: more than one From field", ErrSign)
	ErrSignerUsed = fmt.Errorf("%w: signer already closed", ErrSign)
	ErrSignHeader = fmt.Errorf("%w: header block over %d bytes", ErrSign, MaxHeaderBytes)
)

// MinSignRSABits is the smallest RSA key the signer takes (RFC 8301 §3.2:
// verifiers must not accept smaller keys).
const MinSignRSABits = 1024

// oversignAlways are signed, each once more than it is present, whether
// present or not, so that adding one more such field breaks the signature
// (RFC 6376 §5.4.2, §8.15).
var oversignAlways = []string{
	"From", "Subject", "Date", "Message-ID", "To", "Cc", "Reply-To",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Unsubscribe", "List-Unsubscribe-Post", // RFC 8058 §4
}

// oversignIfPresent are signed, once more than present, only when present.
var oversignIfPresent = []string{"Sender", "In-Reply-To", "References"}

// signPlain are signed as often as present, without an extra instance:
// fields that lists and resenders add (RFC 6376 §5.4.1).
var signPlain = []string{"Resent-Date", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc",
	"Resent-Message-ID", "List-Id", "List-Help", "List-Subscribe", "List-Post", "List-Owner", "List-Archive"}

// neverSigned are the fields no header list may name: trace fields that
// change on the way (RFC 6376 §5.4: Received, Return-Path), results of
// checks made later (Authentication-Results, RFC 8601 §5) and signatures.
var neverSigned = []string{"Received", "Return-Path", "Authentication-Results", "DKIM-Signature",
	"ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"}

// HeaderList is which header fields a signature covers (h=). Names are
// compared without case.
type HeaderList struct {
	// Oversign are signed once more than present, present or not, so
	// that adding one more such field breaks the signature (RFC 6376
	// §5.4.2, §8.15).
	Oversign []string
	// OversignIfPresent are signed once more than present, when present.
	OversignIfPresent []string
	// Plain are signed as often as present.
	Plain []string
}

// DefaultHeaderList is today's practice: the RFC 6376 §5.4.1 fields plus
// the MIME fields and Message-ID, oversigned; the one-click unsubscribe
// pair signed as RFC 8058 §4 asks.
func DefaultHeaderList() HeaderList {
	return HeaderList{Oversign: slices.Clone(oversignAlways),
		OversignIfPresent: slices.Clone(oversignIfPresent), Plain: slices.Clone(signPlain)}
}

// Check refuses a list that does not sign From (RFC 6376 §5.4), names a
// field twice or names a field never to be signed (neverSigned), or a
// name that is not a field name (RFC 5322 §3.6.8).
func (l HeaderList) Check() error {
	seen := map[string]bool{}
	for _, list := range [][]string{l.Oversign, l.OversignIfPresent, l.Plain} {
		for _, name := range list {
			if !validFieldName(name) {
				return fmt.Errorf("%q is not a header field name", name)
			}
			k := foldKey(name)
			if seen[k] {
				return fmt.Errorf("%s is listed twice", name)
			}
			seen[k] = true
			for _, never := range neverSigned {
				if strings.EqualFold(name, never) {
					return fmt.Errorf("%s is never signed: it changes after signing", name)
				}
			}
		}
	}
	if !seen[foldKey("From")] {
		return errors.New("the list must sign From (RFC 6376 §5.4)")
	}
	return nil
}

// validFieldName: printable US-ASCII except colon (RFC 5322 §3.6.8).
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

// SignKey is one signing key: a signature with d=Domain and s=Selector is
// made with it.
type SignKey struct {
	Domain   string
	Selector string
	// Key is an *rsa.PrivateKey (rsa-sha256) or an ed25519.PrivateKey
	// (ed25519-sha256).
	Key crypto.Signer
}

// SignOptions configure a Signer.
type SignOptions struct {
	// Keys: one signature per key, in this order. At least one.
	Keys []SignKey
	// SimpleHeader and SimpleBody select c=simple for the header and the
	// body; the default is c=relaxed/relaxed.
	SimpleHeader, SimpleBody bool
	// Expire, if not 0, adds x= this long after t= (RFC 6376 §3.5: x=
	// must be after t=, so at least a second).
	Expire time.Duration
	// Now is the clock for t=; nil means time.Now.
	Now func() time.Time
	// Headers is the header list; the zero value is DefaultHeaderList.
	Headers HeaderList
}

// algorithm returns the a= value for key k, or an error for a key we do
// not sign with.
func algorithm(k crypto.Signer) (string, error) {
	switch key := k.(type) {
	case *rsa.PrivateKey:
		if n := key.N.BitLen(); n < MinSignRSABits {
			return "", fmt.Errorf("%w: RSA key of %d bits (at least %d)", ErrSign, n, MinSignRSABits)
		}
		return "rsa-sha256", nil
	case ed25519.PrivateKey:
		if len(key) != ed25519.PrivateKeySize {
			return "", fmt.Errorf("%w: Ed25519 key of %d bytes", ErrSign, len(key))
		}
		return "ed25519-sha256", nil
	default:
		return "", fmt.Errorf("%w: unsupported key type %T", ErrSign, k)
	}
}

// Signer signs one message while it streams in: Header for each header
// field in order, then Write for the body in any chunks, then Close for the
// DKIM-Signature field values. The body is canonicalized and hashed as it
// arrives and never held; only the header fields are. A Signer is used by
// one goroutine at a time.
type Signer struct {
	opts   SignOptions
	algs   []string
	fields []string
	size   int // bytes in fields; over MaxHeaderBytes, Close fails
	body   *bodyState
	closed bool
}

// NewSigner checks the options and returns a Signer for one message.
func NewSigner(opts SignOptions) (*Signer, error) {
	if len(opts.Keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrSign)
	}
	if opts.Expire < 0 || (opts.Expire > 0 && opts.Expire < time.Second) {
		return nil, fmt.Errorf("%w: expiry %v (0 or at least 1s: x= must be after t=)", ErrSign, opts.Expire)
	}
	if opts.Headers.Oversign == nil && opts.Headers.OversignIfPresent == nil && opts.Headers.Plain == nil {
		opts.Headers = DefaultHeaderList()
	} else if err := opts.Headers.Check(); err != nil {
		return nil, fmt.Errorf("%w: header list: %w", ErrSign, err)
	}
	s := &Signer{opts: opts}
	for _, k := range opts.Keys {
		if !validDomain(k.Domain) || !validDomain(k.Selector) {
			return nil, fmt.Errorf("%w: bad domain %q or selector %q", ErrSign, k.Domain, k.Selector)
		}
		a, err := algorithm(k.Key)
		if err != nil {
			return nil, fmt.Errorf("%s._domainkey.%s: %w", k.Selector, k.Domain, err)
		}
		s.algs = append(s.algs, a)
	}
	return s, nil
}

// Header takes the next header field, name and value as on the wire, with
// or without its final CRLF; folds may be CRLF or LF followed by WSP. For
// c=simple the field must be given exactly as it will be delivered.
func (s *Signer) Header(field string) {
	if strings.Contains(field, "\n") && strings.Count(field, "\n") != strings.Count(field, "\r\n") {
		field = strings.ReplaceAll(strings.ReplaceAll(field, "\r\n", "\n"), "\n", "\r\n")
	}
	if !strings.HasSuffix(field, "\r\n") {
		field += "\r\n"
	}
	s.size += len(field)
	if s.size <= MaxHeaderBytes {
		s.fields = append(s.fields, field)
	}
}

// Write takes the next body bytes (the body only, after the empty line). It
// never fails.
func (s *Signer) Write(p []byte) (int, error) {
	if s.body == nil {
		s.body = newBodyState(!s.opts.SimpleBody, -1)
	}
	if !s.closed {
		s.body.canon.write(p)
	}
	return len(p), nil
}

// Close ends the body and returns one DKIM-Signature field value per key,
// in the order of SignOptions.Keys. Each value starts with "v=1" and is
// folded with CRLF + TAB; the field to add is "DKIM-Signature: " + value
// (one space after the colon, as hashed).
func (s *Signer) Close() ([]string, error) {
	if s.closed {
		return nil, ErrSignerUsed
	}
	if s.body == nil {
		s.Write(nil)
	}
	s.closed = true
	s.body.close()
	if s.size > MaxHeaderBytes {
		return nil, ErrSignHeader
	}
	if s.body.tooManyBreaks {
		return nil, fmt.Errorf("%w: %s", ErrSign, errHeldReason)
	}
	index := newFieldIndex(s.fields)
	switch froms := fieldCount(index, "From"); {
	case froms == 0:
		return nil, ErrNoFrom // RFC 6376 §5.4: From must be signed
	case froms > 1:
		return nil, ErrManyFrom // which one would a reader see? (RFC 5322 §3.6)
	}
	headers := s.headerList(index)
	now := time.Now
	if s.opts.Now != nil {
		now = s.opts.Now
	}
	t := now().Unix()
	bh := base64.StdEncoding.EncodeToString(s.body.sum)
	var out []string
	var buf []byte
	for i, k := range s.opts.Keys {
		value := s.tags(k, s.algs[i], t, headers, bh)
		sig := &signature{headerCanon: "relaxed", headers: headers}
		if s.opts.SimpleHeader {
			sig.headerCanon = "simple"
		}
		var sum [32]byte
		sum, buf = headerHash(index, "DKIM-Signature: "+value+"\r\n", sig, buf[:0])
		b, err := signSum(k.Key, sum[:])
		if err != nil {
			return nil, fmt.Errorf("%w: %s._domainkey.%s: %w", ErrSign, k.Selector, k.Domain, err)
		}
		out = append(out, value+foldB(base64.StdEncoding.EncodeToString(b)))
	}
	return out, nil
}

// signSum signs a SHA-256 hash with key: RSASSA-PKCS1-v1_5 for RSA,
// Ed25519 over the hash (RFC 8463 §3). ARC's signatures use it too.
func signSum(key crypto.Signer, sum []byte) ([]byte, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum)
	case ed25519.PrivateKey:
		return ed25519.Sign(k, sum), nil
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// headerList returns h=: Oversign each once more than present,
// OversignIfPresent likewise when present, Plain as often as present, in
// list order, each name's repeats together. HeaderList.Check keeps
// Received, Return-Path, Authentication-Results and DKIM-Signature off it.
func (s *Signer) headerList(index *fieldIndex) []string {
	count := func(name string) int { return fieldCount(index, name) }
	var h []string
	add := func(name string, n int) {
		for range n + 1 {
			h = append(h, name)
		}
	}
	hl := s.opts.Headers
	for _, name := range hl.Oversign {
		add(name, count(name))
	}
	for _, name := range hl.OversignIfPresent {
		if n := count(name); n > 0 {
			add(name, n)
		}
	}
	for _, name := range hl.Plain {
		if n := count(name); n > 0 {
			add(name, n-1)
		}
	}
	return h
}

// fieldCount returns how many fields named name the index holds.
func fieldCount(index *fieldIndex, name string) int {
	n := 0
	for i, ok := index.last[foldKey(name)]; ok && i >= 0; i = index.prev[i] {
		n++
	}
	return n
}

// tags returns the field value up to and including "b=", folded before
// a tag that would pass column 78 and between h= names.
func (s *Signer) tags(k SignKey, alg string, t int64, headers []string, bh string) string {
	canon := "relaxed/relaxed"
	switch {
	case s.opts.SimpleHeader && s.opts.SimpleBody:
		canon = "simple/simple"
	case s.opts.SimpleHeader:
		canon = "simple/relaxed"
	case s.opts.SimpleBody:
		canon = "relaxed/simple"
	}
	specs := []string{"v=1", "a=" + alg, "c=" + canon, "d=" + k.Domain, "s=" + k.Selector,
		"t=" + strconv.FormatInt(t, 10)}
	if s.opts.Expire > 0 {
		specs = append(specs, "x="+strconv.FormatInt(t+int64(s.opts.Expire/time.Second), 10))
	}
	if len(headers) > 0 {
		specs = append(specs, "h="+strings.Join(headers, ":"))
	}
	specs = append(specs, "bh="+bh, "b=")
	return foldTags("DKIM-Signature", specs...)
}

// foldTags joins tag-specs with "; " into the value of field name (ARC's
// signatures use it too), breaking lines (CRLF TAB) before a spec that
// would pass column 78, counting "Name: " on the first line, and after an
// empty "b="; an h= list breaks at its colons.
func foldTags(name string, specs ...string) string {
	var b strings.Builder
	col := len(name) + len(": ")
	put := func(piece, sep string) {
		if col+len(sep)+len(piece)+1 > 78 && col > 1 { // +1: the ";" that may follow
			b.WriteString(strings.TrimRight(sep, " ") + "\r\n\t")
			col = 1
		} else {
			b.WriteString(sep)
			col += len(sep)
		}
		b.WriteString(piece)
		col += len(piece)
	}
	for i, spec := range specs {
		sep := "; "
		if i == 0 {
			sep = ""
		}
		if h, ok := strings.CutPrefix(spec, "h="); ok && h != "" {
			prefix := "h="
			for n := range strings.SplitSeq(h, ":") {
				put(prefix+n, sep)
				prefix, sep = "", ":"
			}
			continue
		}
		put(spec, sep)
		if spec == "b=" {
			// b= is filled in later with lines of its own (foldB):
			// a tag after it starts a new line, or it would follow
			// the signature's last line past column 78.
			col = 78
		}
	}
	return b.String()
}

// foldB folds a b= value into lines of at most 72 characters.
func foldB(v string) string {
	var b strings.Builder
	for len(v) > 0 {
		n := min(72, len(v))
		b.WriteString("\r\n\t")
		b.WriteString(v[:n])
		v = v[n:]
	}
	return b.String()
}
