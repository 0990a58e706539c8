package dmarc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/authmilter/authmilter/auth/dns"
)

// Resolver is the DNS this package needs; *dns.Resolver satisfies it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
}

// maxWalk is the most queries one DNS Tree Walk makes (RFC 9989 §4.10).
const maxWalk = 8

// errTemporary marks a lookup whose failure is transient (§4.10.1: the
// result is temperror unless it stands without that lookup).
var errTemporary = errors.New("dmarc: temporary DNS failure")

// found is a DMARC record found at a name during a walk.
type found struct {
	name string
	rec  *Record
}

// walkResult is one DNS Tree Walk: the records found, longest name first,
// and the temporary error that cut the walk short, if any.
type walkResult struct {
	found []found
	err   error
}

type lookupResult struct {
	rec *Record
	err error
}

// session caches lookups, walks and existence checks for one message, so
// that each name is queried once and each identifier walked once.
type session struct {
	ctx     context.Context
	r       Resolver
	log     *slog.Logger
	lookups map[string]lookupResult
	walks   map[string]*walkResult
	exists  map[string]bool
}

// walkNames lists the names a walk from start queries (§4.10): start, then
// each next name keeps min(x-1, 7) labels of the current x, down to one
// label (the TLD is queried). At most 8 names.
func walkNames(start string) []string {
	labels := strings.Split(start, ".")
	n := len(labels)
	names := []string{start}
	for x := n; x > 1; {
		x = min(x-1, 7)
		names = append(names, strings.Join(labels[n-x:], "."))
	}
	if len(names) > maxWalk { // cannot happen; keeps the bound explicit
		names = names[:maxWalk]
	}
	return names
}

// lookup returns the one DMARC record at _dmarc.<name> (§4.10 steps 1-2,
// 5-6): RRs not starting with v=DMARC1 are dropped, two or more records
// count as none. Not found and permanent DNS errors mean no record; any
// other error is temporary.
func (s *session) lookup(name string) lookupResult {
	if lr, ok := s.lookups[name]; ok {
		return lr
	}
	q := "_dmarc." + name
	txts, err := s.r.LookupTXT(s.ctx, q)
	var lr lookupResult
	switch {
	case err == nil:
		var recs []*Record
		for _, t := range txts {
			if r, perr := ParseRecord(t); perr == nil {
				recs = append(recs, r)
			}
		}
		switch len(recs) {
		case 1:
			lr.rec = recs[0]
		case 0:
		default:
			s.log.Debug("dmarc: several records, all discarded", "name", q, "count", len(recs))
		}
	case dns.IsNotFound(err) || errors.Is(err, dns.ErrMalformed):
	default:
		lr.err = fmt.Errorf("%w: TXT %s: %w", errTemporary, q, err)
	}
	s.log.Debug("dmarc: lookup", "name", q, "record", lr.rec != nil, "err", lr.err)
	s.lookups[name] = lr
	return lr
}

// walk performs the DNS Tree Walk from start, stopping after a record with
// psd=y or psd=n, or at the first temporary failure.
func (s *session) walk(start string) *walkResult {
	if w, ok := s.walks[start]; ok {
		return w
	}
	w := &walkResult{}
	for _, name := range walkNames(start) {
		lr := s.lookup(name)
		if lr.err != nil {
			w.err = lr.err
			break
		}
		if lr.rec == nil {
			continue
		}
		w.found = append(w.found, found{name, lr.rec})
		if lr.rec.PSD == "y" || lr.rec.PSD == "n" {
			break
		}
	}
	s.walks[start] = w
	return w
}

// orgDomain applies the rules of §4.10.2 to a complete walk from start.
func orgDomain(start string, w *walkResult) string {
	if len(w.found) == 0 {
		return start // rule 4
	}
	last := w.found[len(w.found)-1] // fewest labels; the psd=y|n one if any
	switch {
	case last.rec.PSD == "n":
		return last.name // rule 1
	case last.rec.PSD == "y" && last.name != start:
		// Rule 2: one label below the PSD on the path to start, taken from
		// the start name's labels (the 7-label shortcut may have skipped it).
		labels := strings.Split(start, ".")
		k := strings.Count(last.name, ".") + 2
		return strings.Join(labels[len(labels)-k:], ".")
	}
	return last.name // rule 3
}

// orgOf returns the Organizational Domain of name from its own walk.
func (s *session) orgOf(name string) (string, error) {
	w := s.walk(name)
	if w.err != nil {
		return "", w.err
	}
	return orgDomain(name, w), nil
}

// domainExists reports whether name exists for the np choice (§4.10.1,
// RFC 8020): only NXDOMAIN on its A query means it does not; an answer or
// NODATA means it does. Any other failure is an error: the choice between
// sp and np must not fall to the weaker one while DNS is in trouble.
func (s *session) domainExists(name string) (bool, error) {
	if v, ok := s.exists[name]; ok {
		return v, nil
	}
	_, err := s.r.LookupIP(s.ctx, "ip4", name)
	s.log.Debug("dmarc: existence", "name", name, "err", err)
	switch {
	case err == nil:
	case dns.IsNXDomain(err):
		s.exists[name] = false
		return false, nil
	case dns.IsNotFound(err) || errors.Is(err, dns.ErrMalformed):
	default:
		return false, fmt.Errorf("%w: A %s: %w", errTemporary, name, err)
	}
	s.exists[name] = true
	return true, nil
}

// aligned reports identifier alignment (§3.2.10, §4.4): strict is equality,
// relaxed is equal Organizational Domains, each from its own walk (§4.10.2;
// reusing the author's walk is not compliant). orgAuthor is "" when the
// author's walk failed; errAuthor is that failure.
func (s *session) aligned(id, author, mode, orgAuthor string, errAuthor error) (bool, error) {
	if id == author {
		return true, nil
	}
	if mode == "s" {
		return false, nil
	}
	if orgAuthor == "" {
		// The org domain is a suffix of author of at least one label: with
		// no common last label the answer is no, whatever DNS says.
		if lastLabel(id) != lastLabel(author) {
			return false, nil
		}
		return false, errAuthor
	}
	if !dns.IsSubdomainOrSame(id, orgAuthor) {
		return false, nil // orgOf(id) is a suffix of id, so it cannot match
	}
	orgID, err := s.orgOf(id)
	if err != nil {
		return false, err
	}
	return orgID == orgAuthor, nil
}

func lastLabel(d string) string {
	return d[strings.LastIndexByte(d, '.')+1:]
}
