package authres

import (
	"strings"
	"unicode"
)

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

// HasAuthservID reports whether an Authentication-Results value carries the
// authserv-id id, or could be read as carrying it by a reader more lenient
// than AuthservID: such a field in an incoming message claims to come from
// us and must be removed (RFC 8601 §5). Removing a field that is not ours
// costs nothing; keeping a forged one is what §7.1 warns of.
//
// The ids are compared as domain names are (RFC 8601 §2.5: the authserv-id
// is usually the host's name): case-insensitively, a trailing dot ignored.
// Besides the §2.2 reading of AuthservID, a value counts as ours when
//   - the id is followed by something other than CFWS or ";"
//     ("mx.example,other", "mx.example/1"): a reader may take the token
//     before it;
//   - the token after a ")" of the leading comments is ours: a reader that
//     neither nests comments nor honours quoted-pairs ends the comment there
//     ("(a (b) mx.example) other");
//   - the value has no readable authserv-id (an unterminated comment or
//     quoted-string, no token at all) and any word in it is ours: nobody can
//     say whose such a field is.
func HasAuthservID(value, id string) bool {
	id = strings.TrimSuffix(id, ".")
	if id == "" {
		return false
	}
	s := &scanner{s: value}
	if !s.cfws() {
		return anyWordIs(value, id) // unterminated comment
	}
	start := s.i
	got, ok := s.value()
	switch {
	case ok && sameID(got, id):
		return true
	case !ok || got == "":
		return anyWordIs(value[start:], id) // unterminated quote, or no token
	}
	// A comment before the id ended early by a lenient reader.
	for i := 0; i < start; i++ {
		if value[i] == ')' && sameID(tokenAt(value, i+1), id) {
			return true
		}
	}
	return false
}

// sameID compares an authserv-id read from a field with ours (already
// without its trailing dot). Unicode whitespace, which the scanner takes
// for token octets, ends the id as it would for a reader splitting on it.
func sameID(got, id string) bool {
	got = strings.TrimLeftFunc(got, unicode.IsSpace)
	if i := strings.IndexFunc(got, unicode.IsSpace); i >= 0 {
		got = got[:i]
	}
	return strings.EqualFold(strings.TrimSuffix(got, "."), id)
}

// tokenAt returns the token that starts at s[i] after spaces and tabs.
func tokenAt(s string, i int) string {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	j := i
	for j < len(s) && isIDOctet(s[j]) {
		j++
	}
	return s[i:j]
}

// anyWordIs reports whether some maximal run of token octets in s is id.
func anyWordIs(s, id string) bool {
	for i := 0; i < len(s); {
		if !isIDOctet(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isIDOctet(s[j]) {
			j++
		}
		if sameID(s[i:j], id) {
			return true
		}
		i = j
	}
	return false
}

// isIDOctet: an octet of a token authserv-id (RFC 2045 token, UTF-8
// allowed by RFC 6532).
func isIDOctet(c byte) bool { return isTokenChar(c) || c >= 0x80 }

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
	for s.i < len(s.s) && isIDOctet(s.s[s.i]) {
		s.i++
	}
	return s.s[start:s.i], s.i > start
}
