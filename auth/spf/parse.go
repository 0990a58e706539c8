package spf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
)

// mechKind is a mechanism of RFC 7208 §5.
type mechKind uint8

const (
	mechAll mechKind = iota
	mechInclude
	mechA
	mechMX
	mechPTR
	mechIP4
	mechIP6
	mechExists
)

// mechanism is one parsed directive (RFC 7208 §4.6.1).
type mechanism struct {
	qual   Result
	kind   mechKind
	text   string      // the term as written, for reasons
	domain macroString // target domain-spec; nil when absent
	prefix netip.Prefix
	cidr4  int // a, mx: IPv4 prefix length (32 when absent)
	cidr6  int // a, mx: IPv6 prefix length (128 when absent)
}

// queriesDNS reports whether the mechanism counts against the limit of 10
// DNS-querying terms (RFC 7208 §4.6.4).
func (m *mechanism) queriesDNS() bool {
	switch m.kind {
	case mechInclude, mechA, mechMX, mechPTR, mechExists:
		return true
	}
	return false
}

// record is a parsed SPF record (RFC 7208 §4.6).
type record struct {
	mechs    []mechanism
	redirect macroString // nil when absent
	exp      macroString // nil when absent
}

// parsedRecords is how many parsed records a Checker keeps, and
// parsedMaxLen the longest record text it keeps: RFC 7208 §3.4 asks for
// records that fit a 512-octet UDP answer, so real ones are far shorter,
// and a hostile domain's huge records cannot fill the cache (at most
// 1,024 × 1 KiB of text).
const (
	parsedRecords = 1024
	parsedMaxLen  = 1024
)

// parsed is parseRecord's answer for one record text.
type parsed struct {
	rec *record
	err error
}

// parse is parseRecord through the Checker's cache of parsed records, keyed
// by the record's text: the same records (the big senders' and their
// includes) come back message after message, and a record is not changed
// by evaluation.
func (c *Checker) parse(txt string) (*record, error) {
	c.parsedOnce.Do(func() {
		c.parsed, _ = lru.New[string, parsed](parsedRecords)
	})
	if p, ok := c.parsed.Get(txt); ok {
		return p.rec, p.err
	}
	rec, err := parseRecord(txt)
	if len(txt) <= parsedMaxLen {
		c.parsed.Add(txt, parsed{rec, err})
	}
	return rec, err
}

// isSPFRecord reports whether a TXT string is an SPF version 1 record: it
// begins with "v=spf1" followed by a space or the end (RFC 7208 §4.5).
func isSPFRecord(txt string) bool {
	const v = "v=spf1"
	if len(txt) < len(v) || !strings.EqualFold(txt[:len(v)], v) {
		return false
	}
	return len(txt) == len(v) || txt[len(v)] == ' '
}

// parseRecord parses a whole SPF record, which isSPFRecord accepted. Any
// syntax error anywhere makes the record a permerror (RFC 7208 §4.6), so
// the record is parsed completely before any term is evaluated.
func parseRecord(txt string) (*record, error) {
	if !isSPFRecord(txt) {
		return nil, fmt.Errorf("%w: not a v=spf1 record", ErrSyntax)
	}
	r := &record{}
	// terms = *( 1*SP ( directive / modifier ) ), record ends with *SP.
	for _, term := range strings.Split(txt[len("v=spf1"):], " ") {
		if term == "" {
			continue
		}
		if err := r.parseTerm(term); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func syntaxErr(term, format string, args ...any) error {
	return fmt.Errorf("%w in %q: %s", ErrSyntax, term, fmt.Sprintf(format, args...))
}

func (r *record) parseTerm(term string) error {
	// A modifier is name "=" macro-string, name = ALPHA *( ALPHA / DIGIT /
	// "-" / "_" / "." ) (RFC 7208 §4.6.1, §12).
	n := 0
	for n < len(term) && (isAlpha(term[n]) || n > 0 && (isDigit(term[n]) || strings.IndexByte("-_.", term[n]) >= 0)) {
		n++
	}
	if n > 0 && n < len(term) && term[n] == '=' {
		return r.parseModifier(term, strings.ToLower(term[:n]), term[n+1:])
	}
	m, err := parseDirective(term)
	if err != nil {
		return err
	}
	r.mechs = append(r.mechs, m)
	return nil
}

func (r *record) parseModifier(term, name, value string) error {
	switch name {
	case "redirect", "exp":
		// RFC 7208 §6: each may appear at most once.
		if name == "redirect" && r.redirect != nil || name == "exp" && r.exp != nil {
			return syntaxErr(term, "%s= given twice", name)
		}
		ms, err := parseDomainSpec(value)
		if err != nil {
			return syntaxErr(term, "%v", err)
		}
		if name == "redirect" {
			r.redirect = ms
		} else {
			r.exp = ms
		}
	default:
		// Unknown modifiers are ignored but must be valid (RFC 7208 §6).
		if _, err := parseMacroString(value, true, false); err != nil {
			return syntaxErr(term, "%v", err)
		}
	}
	return nil
}

func parseDirective(term string) (mechanism, error) {
	m := mechanism{qual: Pass, text: term, cidr4: 32, cidr6: 128}
	s := term
	switch s[0] {
	case '+':
		s = s[1:]
	case '-':
		m.qual, s = Fail, s[1:]
	case '~':
		m.qual, s = Softfail, s[1:]
	case '?':
		m.qual, s = Neutral, s[1:]
	}
	i := strings.IndexAny(s, ":/")
	if i < 0 {
		i = len(s)
	}
	name, arg := strings.ToLower(s[:i]), s[i:]
	var err error
	switch name {
	case "all":
		m.kind = mechAll
		if arg != "" {
			return m, syntaxErr(term, "all takes no argument")
		}
	case "include", "exists":
		m.kind = mechInclude
		if name == "exists" {
			m.kind = mechExists
		}
		if !strings.HasPrefix(arg, ":") {
			return m, syntaxErr(term, "%s needs a domain", name)
		}
		m.domain, err = parseDomainSpec(arg[1:])
	case "a", "mx":
		m.kind = mechA
		if name == "mx" {
			m.kind = mechMX
		}
		err = m.parseDomainCIDR(arg)
	case "ptr":
		m.kind = mechPTR
		if arg != "" {
			if arg[0] != ':' {
				return m, syntaxErr(term, "ptr takes no prefix length")
			}
			m.domain, err = parseDomainSpec(arg[1:])
		}
	case "ip4", "ip6":
		m.kind = mechIP4
		if name == "ip6" {
			m.kind = mechIP6
		}
		if !strings.HasPrefix(arg, ":") {
			return m, syntaxErr(term, "%s needs an address", name)
		}
		m.prefix, err = parseIPNetwork(arg[1:], name == "ip6")
	default:
		return m, syntaxErr(term, "unknown mechanism %q", name)
	}
	if err != nil {
		return m, syntaxErr(term, "%v", err)
	}
	return m, nil
}

// parseDomainCIDR parses the [ ":" domain-spec ] [ dual-cidr-length ] of
// the a and mx mechanisms (RFC 7208 §5.3, §5.4).
func (m *mechanism) parseDomainCIDR(arg string) error {
	// dual-cidr-length = [ ip4-cidr-length ] [ "//" ip6-cidr-length ]
	if i := strings.LastIndex(arg, "//"); i >= 0 && allDigits(arg[i+2:]) {
		n, err := parseCIDRLength(arg[i+2:], 128)
		if err != nil {
			return err
		}
		m.cidr6, arg = n, arg[:i]
	}
	if i := strings.LastIndexByte(arg, '/'); i >= 0 && allDigits(arg[i+1:]) {
		n, err := parseCIDRLength(arg[i+1:], 32)
		if err != nil {
			return err
		}
		m.cidr4, arg = n, arg[:i]
	}
	if arg == "" {
		return nil
	}
	if arg[0] != ':' {
		return fmt.Errorf("bad argument %q", arg)
	}
	var err error
	m.domain, err = parseDomainSpec(arg[1:])
	return err
}

// parseCIDRLength parses a prefix length: "0" or a number without leading
// zeros, at most max (RFC 7208 §5.6).
func parseCIDRLength(s string, max int) (int, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || len(s) > 3 {
		return 0, fmt.Errorf("bad prefix length %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return 0, fmt.Errorf("bad prefix length %q", s)
	}
	return n, nil
}

// parseIPNetwork parses ip4-network [ ip4-cidr-length ] or ip6-network
// [ ip6-cidr-length ] (RFC 7208 §5.6).
func parseIPNetwork(s string, v6 bool) (netip.Prefix, error) {
	addr, length, hasLen := strings.Cut(s, "/")
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" || ip.Is4() == v6 {
		return netip.Prefix{}, fmt.Errorf("bad address %q", addr)
	}
	bits := ip.BitLen()
	if hasLen {
		if bits, err = parseCIDRLength(length, ip.BitLen()); err != nil {
			return netip.Prefix{}, err
		}
	}
	return ip.Prefix(bits)
}

// parseDomainSpec parses a domain-spec = macro-string domain-end, domain-end
// = ( "." toplabel [ "." ] ) / macro-expand (RFC 7208 §7.1). The exp-only
// macro letters c, r and t are not allowed.
func parseDomainSpec(s string) (macroString, error) {
	if s == "" {
		return nil, fmt.Errorf("empty domain-spec")
	}
	ms, err := parseMacroString(s, false, false)
	if err != nil {
		return nil, err
	}
	last := ms[len(ms)-1]
	if last.expand {
		return ms, nil // domain-end is a macro-expand
	}
	tail := strings.TrimSuffix(last.lit, ".")
	i := strings.LastIndexByte(tail, '.')
	if i < 0 || !isTopLabel(tail[i+1:]) {
		return nil, fmt.Errorf("domain-spec %q does not end in a valid top label", s)
	}
	return ms, nil
}

// isTopLabel: toplabel = ( *alphanum ALPHA *alphanum ) /
// ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) (RFC 7208 §7.1).
func isTopLabel(l string) bool {
	if l == "" {
		return false
	}
	alpha, dash := false, false
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case isAlpha(c):
			alpha = true
		case isDigit(c):
		case c == '-':
			dash = true
		default:
			return false
		}
	}
	if dash {
		return l[0] != '-' && l[len(l)-1] != '-'
	}
	return alpha
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
