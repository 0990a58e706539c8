package arc

import "strings"

// AARResult is one result of an ARC-Authentication-Results field
// ("dmarc=pass header.from=example.com"): the method, its result and its
// properties ("header.from" → "example.com"), lower-cased but for the
// property values' local parts.
type AARResult struct {
	Method string
	Result string
	Props  map[string]string
}

// maxAARResults bounds the results read from one field.
const maxAARResults = 64

// ParseAAR reads the results of an ARC-Authentication-Results value (RFC
// 8617 §4.1.1: "i=N;" then an Authentication-Results payload, RFC 8601
// §2.2). It is lenient and never fails: comments are dropped, a resinfo
// it cannot read is skipped, and the authserv-id is not returned (a
// sealer's results are trusted through its seal, not its name).
func ParseAAR(value string) []AARResult {
	specs := splitOutside(stripComments(value), ';')
	if len(specs) < 2 {
		return nil
	}
	var out []AARResult
	for _, spec := range specs[2:] { // after "i=N" and the authserv-id
		words := splitWords(spec)
		if len(words) == 0 || len(out) == maxAARResults {
			continue
		}
		m, r, ok := strings.Cut(words[0], "=")
		if !ok {
			continue
		}
		m, _, _ = strings.Cut(m, "/") // method "/" version
		res := AARResult{Method: strings.ToLower(m), Result: strings.ToLower(unquote(r)), Props: map[string]string{}}
		for _, w := range words[1:] {
			if k, v, ok := strings.Cut(w, "="); ok && strings.Contains(k, ".") {
				res.Props[strings.ToLower(k)] = unquote(v)
			}
		}
		out = append(out, res)
	}
	return out
}

// stripComments drops RFC 5322 comments (nested, with quoted-pairs),
// leaving quoted-strings alone.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (depth > 0 || quoted) && i+1 < len(s):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case quoted:
			quoted = c != '"'
			b.WriteByte(c)
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		default:
			quoted = c == '"'
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitOutside splits s at sep where it is not inside a quoted-string.
func splitOutside(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// splitWords splits at whitespace outside quoted-strings.
func splitWords(s string) []string {
	var out []string
	for _, w := range splitOutside(strings.Map(func(r rune) rune {
		if r == '\t' || r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s), ' ') {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// unquote removes the quotes and quoted-pairs of a quoted-string value.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' && i+1 < len(v)-1 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
