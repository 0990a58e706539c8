package spf

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// macroPart is a run of literal text or one macro-expand (RFC 7208 §7.1).
type macroPart struct {
	lit     string // literal text, or the text of %%, %_ and %-
	expand  bool   // the part is a macro-expand, not macro-literals
	letter  byte   // lower-case macro letter of %{...}; 0 otherwise
	upper   bool   // upper-case letter: URL-escape the value (§7.3)
	digits  int    // keep this many right-hand parts; 0: all
	reverse bool   // the "r" transformer
	delims  string // delimiters; "" means "."
}

// macroString is a parsed macro-string or explain-string.
type macroString []macroPart

// maxDigits caps the DIGIT transformer; RFC 7208 §7.3 asks for at least 127.
const maxDigits = 1 << 16

// parseMacroString parses a macro-string (RFC 7208 §7.1). expOnly allows the
// letters c, r and t; space allows SP (explain-string, §6.2).
func parseMacroString(s string, expOnly, space bool) (macroString, error) {
	var ms macroString
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			ms = append(ms, macroPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			// macro-literal = %x21-24 / %x26-7E
			if c < 0x21 && !(space && c == ' ') || c > 0x7e {
				return nil, fmt.Errorf("invalid character %q", c)
			}
			lit.WriteByte(c)
			continue
		}
		flush()
		if i+1 >= len(s) {
			return nil, fmt.Errorf("%% at end")
		}
		i++
		switch s[i] {
		case '%':
			ms = append(ms, macroPart{lit: "%", expand: true})
		case '_':
			ms = append(ms, macroPart{lit: " ", expand: true})
		case '-':
			ms = append(ms, macroPart{lit: "%20", expand: true})
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unterminated macro")
			}
			p, err := parseMacroExpand(s[i+1:i+end], expOnly)
			if err != nil {
				return nil, err
			}
			ms = append(ms, p)
			i += end
		default:
			return nil, fmt.Errorf("invalid macro %%%c", s[i])
		}
	}
	flush()
	return ms, nil
}

// parseMacroExpand parses the inside of "%{" macro-letter transformers
// *delimiter "}".
func parseMacroExpand(s string, expOnly bool) (macroPart, error) {
	p := macroPart{expand: true}
	if s == "" {
		return p, fmt.Errorf("empty macro")
	}
	l := s[0]
	p.upper = l >= 'A' && l <= 'Z'
	if p.upper {
		l += 'a' - 'A'
	}
	switch {
	case strings.IndexByte("slodiphv", l) >= 0:
	case strings.IndexByte("crt", l) >= 0:
		if !expOnly {
			return p, fmt.Errorf("macro %%{%c} is only allowed in exp= text", s[0])
		}
	default:
		return p, fmt.Errorf("unknown macro letter %q", s[0])
	}
	p.letter = l
	i := 1
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i > 1 {
		n, err := strconv.Atoi(s[1:i])
		if err != nil || n > maxDigits {
			n = maxDigits
		}
		if n == 0 {
			return p, fmt.Errorf("macro transformer 0")
		}
		p.digits = n
	}
	if i < len(s) && (s[i] == 'r' || s[i] == 'R') {
		p.reverse = true
		i++
	}
	p.delims = s[i:]
	for ; i < len(s); i++ {
		if strings.IndexByte(".-+,/_=", s[i]) < 0 {
			return p, fmt.Errorf("invalid macro delimiter %q", s[i])
		}
	}
	return p, nil
}

// macroEnv holds the values of the macro letters (RFC 7208 §7.2).
type macroEnv struct {
	sender, local, senderDomain string
	domain                      string
	ip                          net.IP // 4 bytes for IPv4, 16 for IPv6
	helo                        string
	receiver                    string
	now                         int64
	ptr                         func() string // %{p}, looked up on first use
}

// expand expands a macro string (RFC 7208 §7.3).
func (env *macroEnv) expand(ms macroString) string {
	var b strings.Builder
	for _, p := range ms {
		if p.letter == 0 {
			b.WriteString(p.lit)
			continue
		}
		v := env.value(p.letter)
		if p.digits > 0 || p.reverse || p.delims != "" {
			v = transform(v, p)
		}
		if p.upper {
			v = urlEscape(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

func (env *macroEnv) value(letter byte) string {
	switch letter {
	case 's':
		return env.sender
	case 'l':
		return env.local
	case 'o':
		return env.senderDomain
	case 'd':
		return env.domain
	case 'i':
		return dottedIP(env.ip)
	case 'p':
		if env.ptr == nil {
			return "unknown"
		}
		return env.ptr()
	case 'v':
		if len(env.ip) == net.IPv4len {
			return "in-addr"
		}
		return "ip6"
	case 'h':
		return env.helo
	case 'c':
		return env.ip.String()
	case 'r':
		return env.receiver
	case 't':
		return strconv.FormatInt(env.now, 10)
	}
	return ""
}

// transform splits v on the delimiters, reverses the parts if asked, keeps
// the right-most digits parts and joins them with "." (RFC 7208 §7.3).
func transform(v string, p macroPart) string {
	delims := p.delims
	if delims == "" {
		delims = "."
	}
	parts := splitAny(v, delims)
	if p.reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if p.digits > 0 && p.digits < len(parts) {
		parts = parts[len(parts)-p.digits:]
	}
	return strings.Join(parts, ".")
}

func splitAny(v, delims string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(delims, v[i]) >= 0 {
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

// dottedIP is the %{i} form: dotted quad, or 32 dot-separated nibbles.
func dottedIP(ip net.IP) string {
	if ip4 := ip.To4(); ip4 != nil && len(ip) == net.IPv4len {
		return ip4.String()
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 63)
	for i, c := range ip.To16() {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, hex[c>>4], '.', hex[c&0xf])
	}
	return string(b)
}

// urlEscape escapes all but the unreserved characters of RFC 3986, as the
// upper-case macro letters ask (RFC 7208 §7.3).
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
