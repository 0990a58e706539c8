package dmarc

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// AuthorDomains returns the Author Domains (RFC 9989 §3.2.3, §4.4) of a
// message from the raw values of its From fields, as received (folded or
// not, without the "From:" name).
//
// The value is parsed as an RFC 5322 §3.4 address-list: display names,
// comments, quoted local parts, groups and obs-route are understood, and
// UTF-8 is accepted (RFC 6532). Each domain is converted from U-labels to
// A-labels (§5.3.1), lower-cased and stripped of a trailing dot. Mailboxes
// that share a domain give one Author Domain; mailboxes in different domains
// give all the distinct domains, in order of appearance, and no error.
//
// No value gives ErrNoFrom, more than one ErrMultipleFrom, and a value that
// does not parse or holds no mailbox with a usable domain ErrMalformedFrom
// (wrapped with the detail). A value with a CR that is not part of a line
// break, or a line break that is not a fold (followed by SP or HTAB), does
// not parse (RFC 5322 §2.2, §2.2.3): DKIM and a mail reader could take it
// for more than one field.
func AuthorDomains(fromValues []string) (domains []string, err error) {
	switch len(fromValues) {
	case 0:
		return nil, ErrNoFrom
	case 1:
	default:
		return nil, ErrMultipleFrom
	}
	if err := checkLineBreaks(fromValues[0]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedFrom, err)
	}
	addrs, err := parseAddressList(fromValues[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedFrom, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: no mailbox", ErrMalformedFrom)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		d, err := NormalizeDomain(a.domain)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedFrom, err)
		}
		if !seen[d] {
			seen[d] = true
			domains = append(domains, d)
		}
	}
	return domains, nil
}

// checkLineBreaks accepts CR and LF only as folds: LF or CRLF, then SP or
// HTAB (the value as an MTA hands it to a milter, or as on the wire).
func checkLineBreaks(s string) error {
	for i := strings.IndexAny(s, "\r\n"); i >= 0 && i < len(s); i++ {
		switch s[i] {
		case '\r':
			if i+1 == len(s) || s[i+1] != '\n' {
				return fmt.Errorf("bare CR")
			}
		case '\n':
			if i+1 == len(s) || (s[i+1] != ' ' && s[i+1] != '\t') {
				return fmt.Errorf("line break not followed by whitespace")
			}
		}
	}
	return nil
}

// NormalizeDomain returns the A-label, lower-case form of a domain name
// without its trailing dot (RFC 9989 §5.3.1). Names with non-ASCII labels
// and names with A-labels go through IDNA lookup processing (UTS #46,
// which also validates the Punycode); other ASCII names must consist of
// letters, digits, hyphens and underscores, in labels of 1 to 63 octets.
func NormalizeDomain(d string) (string, error) {
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "", fmt.Errorf("empty domain")
	}
	ascii := true
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii && !utf8.ValidString(d) {
		return "", fmt.Errorf("domain %q: invalid UTF-8", d)
	}
	if !ascii || strings.Contains(strings.ToLower(d), "xn--") {
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return "", fmt.Errorf("domain %q: %w", d, err)
		}
		d = a
	}
	d = strings.ToLower(d)
	if len(d) > 253 {
		return "", fmt.Errorf("domain %q: too long", d)
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("domain %q: bad label length", d)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("domain %q: bad character %q", d, c)
			}
		}
	}
	return d, nil
}

// mailbox is one parsed address; only its domain matters to DMARC.
type mailbox struct {
	local, domain string
}

// Token kinds of the address-list scanner.
const (
	tAtom    = iota // run of atext and "." (dot-atoms, obs-phrase words)
	tQuoted         // quoted-string, unescaped
	tLiteral        // domain-literal "[...]"
	tSpecial        // one of < > : ; , @
)

type token struct {
	kind int
	text string
}

// isAtext reports RFC 5322 atext, extended with UTF-8 (RFC 6532).
func isAtext(c byte) bool {
	if c >= utf8.RuneSelf {
		return true
	}
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// tokenize splits an address-list into tokens, dropping CFWS (comments
// included, nested per RFC 5322 §3.2.2).
func tokenize(s string) ([]token, error) {
	// A NUL byte is in no part of an address-list, even in the obsolete
	// syntax: ctext, qtext, dtext and quoted-pair exclude %d0 (RFC 5322
	// §3.2.1 to §3.2.4, §4.1 obs-NO-WS-CTL, obs-qp).
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, fmt.Errorf("NUL byte at offset %d", i)
	}
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			depth := 0
			for ; i < len(s); i++ {
				if s[i] == '\\' {
					i++
					continue
				}
				if s[i] == '(' {
					depth++
				} else if s[i] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated comment")
			}
			i++
		case c == '"':
			var b strings.Builder
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch s[i] {
				case '\\':
					i++
					if i < len(s) {
						b.WriteByte(s[i])
					}
				case '\r', '\n':
				default:
					b.WriteByte(s[i])
				}
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quoted string")
			}
			i++
			toks = append(toks, token{tQuoted, b.String()})
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated domain literal")
			}
			toks = append(toks, token{tLiteral, s[i : i+j+1]})
			i += j + 1
		case strings.IndexByte("<>:;,@", c) >= 0:
			toks = append(toks, token{tSpecial, s[i : i+1]})
			i++
		case isAtext(c) || c == '.':
			j := i
			for j < len(s) && (isAtext(s[j]) || s[j] == '.') {
				j++
			}
			toks = append(toks, token{tAtom, s[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
	}
	return toks, nil
}

// addrParser is a recursive-descent parser over the tokens of an
// address-list (RFC 5322 §3.4 with the obsolete forms of §4.4: empty list
// elements, obs-route, CFWS anywhere).
type addrParser struct {
	toks []token
	pos  int
}

func (p *addrParser) peek() (token, bool) {
	if p.pos >= len(p.toks) {
		return token{}, false
	}
	return p.toks[p.pos], true
}

func (p *addrParser) isSpecial(s string) bool {
	t, ok := p.peek()
	return ok && t.kind == tSpecial && t.text == s
}

func parseAddressList(s string) ([]mailbox, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &addrParser{toks: toks}
	var out []mailbox
	for {
		for p.isSpecial(",") {
			p.pos++
		}
		if _, ok := p.peek(); !ok {
			return out, nil
		}
		mbs, err := p.address()
		if err != nil {
			return nil, err
		}
		out = append(out, mbs...)
		if _, ok := p.peek(); !ok {
			return out, nil
		}
		if !p.isSpecial(",") {
			return nil, fmt.Errorf("expected ',' after address, got %q", p.toks[p.pos].text)
		}
	}
}

// address parses a mailbox or a group.
func (p *addrParser) address() ([]mailbox, error) {
	// Classify by the first special token ahead: ':' before '<' or '@'
	// starts a group.
	for i := p.pos; i < len(p.toks); i++ {
		t := p.toks[i]
		if t.kind != tSpecial {
			continue
		}
		if t.text == ":" {
			return p.group()
		}
		break
	}
	mb, err := p.mailbox()
	if err != nil {
		return nil, err
	}
	return []mailbox{mb}, nil
}

func (p *addrParser) group() ([]mailbox, error) {
	for !p.isSpecial(":") {
		t, _ := p.peek()
		if t.kind == tSpecial {
			return nil, fmt.Errorf("bad group display name")
		}
		p.pos++
	}
	p.pos++ // ':'
	var out []mailbox
	for {
		for p.isSpecial(",") {
			p.pos++
		}
		if _, ok := p.peek(); !ok {
			return out, nil // tolerate a missing ';' at the end
		}
		if p.isSpecial(";") {
			p.pos++
			return out, nil
		}
		mb, err := p.mailbox()
		if err != nil {
			return nil, err
		}
		out = append(out, mb)
		if !p.isSpecial(",") && !p.isSpecial(";") {
			if _, ok := p.peek(); ok {
				return nil, fmt.Errorf("expected ',' or ';' in group")
			}
		}
	}
}

// mailbox parses name-addr or addr-spec.
func (p *addrParser) mailbox() (mailbox, error) {
	// A '<' before any '@', ',' or ';' means name-addr.
	angle := false
	for i := p.pos; i < len(p.toks); i++ {
		t := p.toks[i]
		if t.kind == tSpecial {
			angle = t.text == "<"
			break
		}
	}
	if !angle {
		return p.addrSpec()
	}
	for !p.isSpecial("<") {
		p.pos++ // display-name words
	}
	p.pos++
	if p.isSpecial("@") { // obs-route: "@a,@b:"
		for !p.isSpecial(":") {
			if _, ok := p.peek(); !ok || p.isSpecial(">") {
				return mailbox{}, fmt.Errorf("bad route")
			}
			p.pos++
		}
		p.pos++
	}
	mb, err := p.addrSpec()
	if err != nil {
		return mailbox{}, err
	}
	if !p.isSpecial(">") {
		return mailbox{}, fmt.Errorf("missing '>'")
	}
	p.pos++
	return mb, nil
}

func (p *addrParser) addrSpec() (mailbox, error) {
	var local strings.Builder
	for {
		t, ok := p.peek()
		if !ok || t.kind == tSpecial || t.kind == tLiteral {
			break
		}
		local.WriteString(t.text)
		p.pos++
	}
	if local.Len() == 0 {
		return mailbox{}, fmt.Errorf("missing local part")
	}
	if !p.isSpecial("@") {
		return mailbox{}, fmt.Errorf("missing '@' after %q", local.String())
	}
	p.pos++
	t, ok := p.peek()
	if !ok {
		return mailbox{}, fmt.Errorf("missing domain")
	}
	if t.kind == tLiteral {
		return mailbox{}, fmt.Errorf("address literal %s has no DMARC domain", t.text)
	}
	if t.kind != tAtom {
		return mailbox{}, fmt.Errorf("missing domain")
	}
	p.pos++
	d := t.text
	if strings.HasPrefix(d, ".") || strings.Contains(d, "..") {
		return mailbox{}, fmt.Errorf("bad domain %q", d)
	}
	return mailbox{local: local.String(), domain: d}, nil
}
