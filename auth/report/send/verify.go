package send

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"

	"github.com/authmilter/authmilter/auth/dns"
)

// Resolver is the DNS that Verify needs; *dns.Resolver is one.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Errors of Verify.
var (
	// ErrUnverified: the destination did not agree to receive reports
	// for the policy domain (RFC 9990 §4): send nothing to it.
	ErrUnverified = errors.New("send: destination not verified")
	// ErrTemporary: the verification could not be done now (a temporary
	// DNS failure); try again later, and send nothing meanwhile.
	ErrTemporary = errors.New("send: destination verification failed temporarily")
	// ErrURI: the URI is not a mailto: URI with one plain address.
	ErrURI = errors.New("send: unsupported report URI")
)

// Verify checks that the report destination uri of a record found at
// policyDomain may receive its reports (RFC 9990 §4; RFC 9991 §5 for
// failure reports) and returns the mailto: URIs to send to in its place:
// uri itself, or the URIs of the same host that the destination's
// verification record names in its rua tag (the override rule, §4 step
// 4). The error is ErrUnverified (send to none), ErrTemporary (decide
// later) or ErrURI.
//
// No query is made when the destination host is the policy domain or a
// subdomain of it, or a parent of it: then both lie in one Organizational
// Domain. Other pairs are verified even when a tree walk would put them in
// one Organizational Domain (sibling subdomains), which can only drop a
// report, never send one unasked.
func Verify(ctx context.Context, r Resolver, policyDomain, uri string) ([]string, error) {
	addr, err := MailtoAddress(uri)
	if err != nil {
		return nil, err
	}
	_, host, _ := strings.Cut(addr, "@")
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	pd := strings.ToLower(strings.TrimSuffix(policyDomain, "."))
	if sameOrg(pd, host) {
		return []string{uri}, nil
	}
	name := pd + "._report._dmarc." + host
	if len(name) > 253 {
		// §4: a name too long to ask cannot verify anything.
		return nil, fmt.Errorf("%w: %s is over 253 octets", ErrUnverified, name)
	}
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		if dns.IsTemporary(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrTemporary, name, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrUnverified, name, err)
	}
	for _, t := range txts {
		rua, ok := ParseVerification(t)
		if !ok {
			continue
		}
		if len(rua) == 0 {
			return []string{uri}, nil
		}
		// §4: a rua in the verification record replaces the URI, but
		// only with URIs of the same host; otherwise send to neither.
		var out []string
		for _, u := range rua {
			a, err := MailtoAddress(u)
			if err != nil {
				continue
			}
			_, h, _ := strings.Cut(a, "@")
			if strings.EqualFold(strings.TrimSuffix(h, "."), host) {
				out = append(out, u)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: %s names another host in its rua", ErrUnverified, name)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: no v=DMARC1 record at %s", ErrUnverified, name)
}

// sameOrg reports whether one name is the other or under it (both lower
// case, at least two labels for the shorter one).
func sameOrg(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if !strings.Contains(a, ".") {
		return false
	}
	return a == b || strings.HasSuffix(b, "."+a)
}

// ParseVerification reads a TXT record at <policy-domain>._report._dmarc.
// <host> (RFC 9990 §4 step 3): ok when its first tag is exactly v=DMARC1
// (a trailing ";" and spaces around tags allowed), with the URIs of its
// rua tag if any (the ! size suffix of RFC 7489 dropped).
func ParseVerification(txt string) (rua []string, ok bool) {
	tags := strings.Split(txt, ";")
	if strings.TrimSpace(tags[0]) != "v=DMARC1" {
		return nil, false
	}
	for _, t := range tags[1:] {
		k, v, found := strings.Cut(t, "=")
		if !found || strings.TrimSpace(k) != "rua" {
			continue
		}
		for _, u := range strings.Split(v, ",") {
			u = strings.TrimSpace(u)
			if i := strings.LastIndexByte(u, '!'); i > 0 {
				u = u[:i]
			}
			if u != "" {
				rua = append(rua, u)
			}
		}
		break
	}
	return rua, true
}

// MailtoAddress is the address of a mailto: URI (RFC 6068; RFC 9989 §4.7
// makes mailto the one scheme to support): percent-decoded, without any
// "?" header part, a plain addr-spec of printable ASCII. Other schemes and
// anything that could break an SMTP command or a header field are ErrURI.
func MailtoAddress(uri string) (string, error) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || !strings.EqualFold(scheme, "mailto") {
		return "", fmt.Errorf("%w: %q", ErrURI, uri)
	}
	rest, _, _ = strings.Cut(rest, "?")
	a, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("%w: %q", ErrURI, uri)
	}
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", fmt.Errorf("%w: %q", ErrURI, uri)
	}
	for i := 0; i < len(a); i++ {
		if a[i] <= ' ' || a[i] >= 0x7f {
			return "", fmt.Errorf("%w: %q", ErrURI, uri)
		}
	}
	if p, err := mail.ParseAddress(a); err != nil || p.Address != a {
		return "", fmt.Errorf("%w: %q", ErrURI, uri)
	}
	return a, nil
}
