package dkim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
)

// signature is a parsed and checked DKIM-Signature field value
// (RFC 6376 §3.5, checks of §6.1.1).
type signature struct {
	algorithm  string // a=, lower case: "rsa-sha256", "ed25519-sha256", "rsa-sha1"
	domain     string // d=
	selector   string // s=
	identifier string // i=, quoted-printable decoded; "@"+d when absent
	headerCanon,
	bodyCanon string // c=, "simple" or "relaxed"
	headers    []string // h=
	bodyHash   string   // bh=, whitespace removed
	b          string   // b=, whitespace removed
	length     int64    // l=, -1 when absent
	timestamp  int64    // t=, -1 when absent
	expiration int64    // x=, -1 when absent
}

// requiredTags are the tags RFC 6376 §3.5 marks REQUIRED.
var requiredTags = []string{"v", "a", "b", "bh", "d", "h", "s"}

// parseSignature parses a DKIM-Signature field value and applies the
// syntax checks of RFC 6376 §6.1.1. Errors wrap ErrTagList or ErrSignature.
// A signature it accepts may still carry an algorithm we refuse by policy
// (rsa-sha1); that is decided by the caller.
func parseSignature(value string) (*signature, error) {
	tags, err := parseTagList(value)
	if err != nil {
		return nil, err
	}
	// §6.1.1: v= must be "1"; other versions are PERMFAIL (incompatible).
	if v, ok := tags["v"]; ok && v != "1" {
		return nil, fmt.Errorf("%w: incompatible version v=%s", ErrSignature, shorten(v))
	}
	for _, t := range requiredTags {
		if _, ok := tags[t]; !ok {
			return nil, fmt.Errorf("%w: missing %s= tag", ErrSignature, t)
		}
	}
	s := &signature{
		algorithm: strings.ToLower(stripFWS(tags["a"])),
		domain:    strings.ToLower(stripFWS(tags["d"])),
		selector:  stripFWS(tags["s"]),
		bodyHash:  stripFWS(tags["bh"]),
		b:         stripFWS(tags["b"]),
		headers:   splitColonList(tags["h"]),
	}
	switch s.algorithm {
	case "rsa-sha256", "ed25519-sha256", "rsa-sha1":
	default:
		return nil, fmt.Errorf("%w: unsupported algorithm a=%s", ErrSignature, shorten(s.algorithm))
	}
	if s.domain == "" || s.selector == "" {
		return nil, fmt.Errorf("%w: empty d= or s=", ErrSignature)
	}
	if !validDomain(s.domain) || !validDomain(s.selector) {
		return nil, fmt.Errorf("%w: bad d= or s=", ErrSignature)
	}
	if s.bodyHash == "" || s.b == "" {
		return nil, fmt.Errorf("%w: empty b= or bh=", ErrSignature)
	}
	// §6.1.1: the From field MUST be signed.
	from := false
	for _, h := range s.headers {
		if strings.EqualFold(h, "from") {
			from = true
		}
	}
	if !from {
		return nil, fmt.Errorf("%w: From not signed", ErrSignature)
	}
	if s.headerCanon, s.bodyCanon, err = parseCanon(tags["c"]); err != nil {
		return nil, err
	}
	// §6.1.1: i= must be d= or a subdomain of it.
	s.identifier = "@" + s.domain
	if i, ok := tags["i"]; ok {
		s.identifier = decodeQP(stripFWS(i))
		at := strings.LastIndexByte(s.identifier, '@')
		if at < 0 {
			return nil, fmt.Errorf("%w: i= has no '@'", ErrSignature)
		}
		// §3.5 i=: the domain must be d= or one of its subdomains.
		if !dns.IsSubdomainOrSame(s.identifier[at+1:], s.domain) {
			return nil, fmt.Errorf("%w: i= not within d=", ErrSignature)
		}
	}
	// §3.5 q=: only dns/txt is defined; a list without it cannot be used.
	if q, ok := tags["q"]; ok {
		dnsTXT := false
		for _, m := range splitColonList(q) {
			if m == "dns/txt" {
				dnsTXT = true
			}
		}
		if !dnsTXT {
			return nil, fmt.Errorf("%w: unsupported query method q=%s", ErrSignature, shorten(q))
		}
	}
	if s.length, err = parseNumberTag(tags, "l"); err != nil {
		return nil, err
	}
	if s.timestamp, err = parseNumberTag(tags, "t"); err != nil {
		return nil, err
	}
	if s.expiration, err = parseNumberTag(tags, "x"); err != nil {
		return nil, err
	}
	return s, nil
}

// parseCanon parses c= (§3.5): "header/body", each simple or relaxed,
// default simple/simple; "relaxed" alone means relaxed/simple.
func parseCanon(c string) (header, body string, err error) {
	header, body = "simple", "simple"
	c = stripFWS(c)
	if c == "" {
		return header, body, nil
	}
	h, b, hasBody := strings.Cut(c, "/")
	header = strings.ToLower(h)
	if hasBody {
		body = strings.ToLower(b)
	}
	for _, x := range []string{header, body} {
		if x != "simple" && x != "relaxed" {
			return "", "", fmt.Errorf("%w: unsupported canonicalization c=%s", ErrSignature, shorten(c))
		}
	}
	return header, body, nil
}

// parseNumberTag parses an optional decimal tag (l=, t=, x=; at most 76
// digits per §3.5, but anything beyond int64 is refused).
func parseNumberTag(tags map[string]string, name string) (int64, error) {
	v, ok := tags[name]
	if !ok {
		return -1, nil
	}
	v = stripFWS(v)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || v[0] == '+' {
		return -1, fmt.Errorf("%w: bad %s=%s", ErrSignature, name, shorten(v))
	}
	return n, nil
}

// expired reports whether the signature's x= lies before now (§3.5 x=).
// The comparison is strict, like go-msgauth's, so both agree.
func (s *signature) expired(now time.Time) bool {
	return s.expiration >= 0 && now.After(time.Unix(s.expiration, 0))
}

// keyName is the DNS name of the key record (§3.6.2.1).
func (s *signature) keyName() string {
	return s.selector + "._domainkey." + s.domain
}

// validDomain accepts dot-separated labels of letters, digits, '-' and '_'
// (selectors and some d= use underscores), at most 253 octets.
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// decodeQP decodes the dkim-quoted-printable of i= (§2.11): "=XX" is the
// octet XX; anything malformed is kept as it is.
func decodeQP(s string) string {
	if !strings.Contains(s, "=") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '=' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
