package authres

import "strings"

// AuthservID returns the authserv-id of an existing Authentication-Results
// value (RFC 8601 §2.2), folded or not: leading CFWS is skipped, comments
// may nest and contain ";" or quoted-pairs, and the id may be a token or a
// quoted-string. The id is returned as written; compare it with
// strings.EqualFold (or use HasAuthservID). ok is false when the value does
// not start with an authserv-id that ends at CFWS, ";" or the end of the
// value. What follows (version, resinfo) is not checked, on purpose: a
// malformed field that carries our id must still be found and removed.
func AuthservID(value string) (string, bool) {
	s := &scanner{s: value}
	if !s.cfws() {
		return "", false
	}
	id, ok := s.value()
	if !ok || id == "" {
		return "", false
	}
	// The id must end cleanly: at CFWS, ";" or the end of the value.
	if s.i < len(s.s) && !strings.ContainsRune(" \t\r\n(;", rune(s.s[s.i])) {
		return "", false
	}
	return id, true
}

// HasAuthservID reports whether value is an Authentication-Results value
// whose authserv-id is id, compared case-insensitively: such a field in an
// incoming message is forged and must be removed (RFC 8601 §5).
func HasAuthservID(value, id string) bool {
	got, ok := AuthservID(value)
	return ok && strings.EqualFold(got, id)
}

type scanner struct {
	s string
	i int
}

// cfws skips whitespace (folding included) and comments; false on an
// unterminated comment.
func (s *scanner) cfws() bool {
	for s.i < len(s.s) {
		switch s.s[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		case '(':
			depth := 0
			for ; s.i < len(s.s); s.i++ {
				c := s.s[s.i]
				if c == '\\' {
					s.i++
					continue
				}
				if c == '(' {
					depth++
				} else if c == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if s.i >= len(s.s) {
				return false
			}
			s.i++
		default:
			return true
		}
	}
	return true
}

// value reads an RFC 2045 value: a token (UTF-8 allowed, RFC 6532) or a
// quoted-string, which is returned unescaped.
func (s *scanner) value() (string, bool) {
	if s.i < len(s.s) && s.s[s.i] == '"' {
		var b strings.Builder
		for s.i++; s.i < len(s.s); s.i++ {
			switch c := s.s[s.i]; c {
			case '"':
				s.i++
				return b.String(), true
			case '\\':
				s.i++
				if s.i < len(s.s) {
					b.WriteByte(s.s[s.i])
				}
			case '\r', '\n':
			default:
				b.WriteByte(c)
			}
		}
		return "", false
	}
	start := s.i
	for s.i < len(s.s) && (isTokenChar(s.s[s.i]) || s.s[s.i] >= 0x80) {
		s.i++
	}
	return s.s[start:s.i], s.i > start
}
