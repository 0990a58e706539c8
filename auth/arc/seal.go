package arc

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
)

// Sealing (RFC 8617 §5.1): a new ARC set of ARC-Authentication-Results
// (our own results), ARC-Message-Signature (a DKIM signature over chosen
// header fields and the body) and ARC-Seal (a signature over every set).

// ErrNoSeal is why a message gets no new ARC set; it wraps the reason.
var ErrNoSeal = errors.New("arc: not sealed")

// DefaultSealHeaders are the fields an ARC-Message-Signature signs, each
// as many times as it is present (absent ones are left out): the
// originator and content fields a forwarder must not change, and the
// DKIM signatures (RFC 8617 §4.1.2 leaves the choice to the sealer; never
// Received or Authentication-Results, which hops add and remove).
var DefaultSealHeaders = []string{
	"from", "to", "cc", "subject", "date", "message-id", "reply-to", "sender",
	"in-reply-to", "references", "mime-version", "content-type",
	"content-transfer-encoding", "list-id", "list-unsubscribe",
	"list-unsubscribe-post", "dkim-signature",
}

// Signer adds ARC sets with one key. It is safe for concurrent use.
type Signer struct {
	domain, selector string
	key              crypto.Signer
	algo             string
	headers          []string
}

// NewSigner returns a Signer signing as d=domain, s=selector with key (an
// RSA key of at least 1024 bits or an Ed25519 key); headers are the
// names the ARC-Message-Signature signs, nil for DefaultSealHeaders. The
// domain, selector and key are checked as the DKIM signer checks them.
func NewSigner(domain, selector string, key crypto.Signer, headers []string) (*Signer, error) {
	s := &Signer{domain: strings.ToLower(domain), selector: strings.ToLower(selector), key: key, headers: headers}
	if s.headers == nil {
		s.headers = DefaultSealHeaders
	}
	if !dkim.ValidDomain(s.domain) || !dkim.ValidDomain(s.selector) {
		return nil, fmt.Errorf("arc: seal domain %q or selector %q is not a domain name", domain, selector)
	}
	algo, err := dkim.SignAlgorithm(key)
	if err != nil {
		return nil, fmt.Errorf("arc: seal key: %w", err)
	}
	s.algo = algo
	return s, nil
}

// Domain is the sealer's d=.
func (s *Signer) Domain() string { return s.domain }

// SealInput is what a seal is made from.
type SealInput struct {
	// Fields are the header fields as they will be delivered, top first,
	// each ending in CRLF, without the new set.
	Fields []string
	// BodyHash is the SHA-256 of the body in relaxed canonicalization
	// (dkim.NewBodyHasher(true, -1)).
	BodyHash []byte
	// AuthResults is our Authentication-Results value (authserv-id and
	// results, CRLF folds): the new AAR is "i=N; " and it (§4.1.1).
	AuthResults string
	// CV is the chain status our own verification found (§5.1.1 step 2).
	CV Status
	// Time is t= (the signing time).
	Time time.Time
}

// Set is a new ARC set: each value as it follows "Name:" with its one
// leading space left out, folded with CRLF TAB.
type Set struct {
	Instance int
	AAR      string // ARC-Authentication-Results
	AMS      string // ARC-Message-Signature
	Seal     string // ARC-Seal
}

// Seal makes the next ARC set for a message (RFC 8617 §5.1). A chain
// whose newest seal already says cv=fail is never extended, and a chain
// at the instance limit, or whose sets cannot be numbered, is not sealed:
// the error wraps ErrNoSeal. For a failed chain (CV fail) the seal covers
// only the new set (§5.1.1 step 2: later hops cannot repair a failed
// chain, and the sets before ours need not verify).
func (s *Signer) Seal(in SealInput) (Set, error) {
	sets, err := collect(in.Fields)
	if err != nil {
		return Set{}, fmt.Errorf("%w: %v", ErrNoSeal, err)
	}
	n := len(sets)
	cv := in.CV
	switch {
	case n >= MaxInstances:
		return Set{}, fmt.Errorf("%w: the chain has %d instances already (RFC 8617 §4.2.1)", ErrNoSeal, n)
	case n > 0 && newestFailed(sets[n-1].seal):
		return Set{}, fmt.Errorf("%w: the chain ends in a seal with cv=fail (RFC 8617 §5.1.1)", ErrNoSeal)
	}
	switch {
	case n == 0:
		cv = None
	case cv != Pass:
		cv = Fail
	}
	i := n + 1
	t := strconv.FormatInt(in.Time.Unix(), 10)
	out := Set{Instance: i, AAR: fmt.Sprintf("i=%d; %s", i, strings.TrimLeft(in.AuthResults, " \t"))}
	aarField := nameAAR + ": " + out.AAR + "\r\n"

	// The AMS: tags in the order the ValiMail suite fixes (by name), so
	// that the same input gives the suite's signature.
	var names []string
	count := map[string]int{}
	for _, f := range in.Fields {
		name, _, _ := strings.Cut(f, ":")
		count[strings.ToLower(strings.TrimSpace(name))]++
	}
	for _, h := range s.headers {
		for range count[strings.ToLower(h)] {
			names = append(names, strings.ToLower(h))
		}
	}
	bh := base64.StdEncoding.EncodeToString(in.BodyHash)
	ams := dkim.FoldTags(nameAMS,
		"a="+s.algo, "b=", "bh="+bh, "c=relaxed/relaxed", "d="+s.domain,
		"h="+strings.Join(names, ":"), "i="+strconv.Itoa(i), "s="+s.selector, "t="+t)
	signed := append([]string{aarField}, in.Fields...)
	buf := dkim.AppendSignedFields(nil, signed, names, true)
	buf = dkim.AppendCanonHeader(buf, nameAMS+": "+ams+"\r\n", true)
	b, err := s.sign(buf[:len(buf)-2])
	if err != nil {
		return Set{}, err
	}
	out.AMS = withB(ams, b)

	as := dkim.FoldTags(nameSeal, "a="+s.algo, "b=", "cv="+string(cv), "d="+s.domain,
		"i="+strconv.Itoa(i), "s="+s.selector, "t="+t)
	own := set{aar: aarField, ams: nameAMS + ": " + out.AMS + "\r\n", seal: nameSeal + ": " + as + "\r\n"}
	chain := append(sets, own)
	if cv == Fail {
		chain = []set{own}
	}
	buf = appendSealed(buf[:0], chain)
	if b, err = s.sign(buf[:len(buf)-2]); err != nil {
		return Set{}, err
	}
	out.Seal = withB(as, b)
	return out, nil
}

// newestFailed reports whether a chain's newest seal says cv=fail.
func newestFailed(f string) bool {
	sl, err := parseSeal(f)
	return err == nil && sl.cv == "fail"
}

// sign signs the SHA-256 hash of data as the DKIM signer does.
func (s *Signer) sign(data []byte) (string, error) {
	h := sha256.Sum256(data)
	sig, err := dkim.SignSHA256(s.key, h[:])
	if err != nil {
		return "", fmt.Errorf("arc: sealing with %s._domainkey.%s: %w", s.selector, s.domain, err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// withB puts signature b (base64) into the empty "b=" of value, folded as
// the DKIM signer folds it.
func withB(value, b string) string {
	i := strings.Index(value, "b=;") // the first: a= comes before it
	return value[:i+2] + dkim.FoldB(b) + value[i+2:]
}
