package authres

import (
	"strings"
	"unicode/utf8"
)

// SPFResult is one SPF check (RFC 7208 §9.1, RFC 8601 §2.7.2).
type SPFResult struct {
	Result   string // pass, fail, softfail, neutral, none, temperror, permerror
	Identity string // smtp.mailfrom (address or domain) or smtp.helo (host name)
	Reason   string // short comment; "" for none
}

// DKIMResult is one DKIM signature (RFC 6376 §7.1, RFC 8601 §2.7.1).
type DKIMResult struct {
	Result   string // pass, fail, neutral, none, policy, temperror, permerror
	Domain   string // header.d
	Identity string // header.i
	Selector string // header.s
	// Signature is the b= value; header.b carries its first 8 characters
	// (RFC 6008) so that several signatures of one domain can be told apart.
	Signature string
	Reason    string
}

// DMARCResult is the DMARC evaluation (RFC 9989 §9.1, §9.2).
type DMARCResult struct {
	Result string // pass, fail, none, temperror, permerror
	From   string // header.from: the Author Domain
	Policy string // policy.dmarc: none, quarantine, reject (after p/sp/np and t=y); "" to omit
	Reason string
}

// FieldName is the header field name Format's folding accounts for.
const FieldName = "Authentication-Results"

// maxLine is the line length (octets, CRLF excluded) Format folds to
// (RFC 5322 §2.1.1).
const maxLine = 78

// maxComment bounds a comment's length before escaping.
const maxComment = 60

// Format returns the value of an Authentication-Results field (RFC 8601
// §2.2), without the field name, for the given results: one dmarc= result
// for each DMARC result (one per Author Domain, RFC 9989 §9.1); nil or
// empty arguments are left out, and with no result at all the value is
// "authserv-id; none". The value is folded with "\r\n\t" (CRLF, then a TAB)
// before each resinfo and wherever a line would exceed 78 octets, counting
// "Authentication-Results: " on the first line; a milter that wants LF
// line ends converts them. Text from the message or DNS (reasons,
// identities) is sanitised: control characters dropped, parentheses and
// backslashes escaped in comments, values quoted when they are not tokens.
func Format(authservID string, spf *SPFResult, helo *SPFResult, dkim []DKIMResult, dmarc ...*DMARCResult) string {
	var res [][]string // each resinfo as a list of unbreakable words
	if spf != nil {
		res = append(res, resinfo("spf", spf.Result, spf.Reason, "smtp.mailfrom", spf.Identity))
	}
	if helo != nil {
		res = append(res, resinfo("spf", helo.Result, helo.Reason, "smtp.helo", helo.Identity))
	}
	for _, d := range dkim {
		b := d.Signature
		if len(b) > 8 {
			b = b[:8]
		}
		res = append(res, resinfo("dkim", d.Result, d.Reason,
			"header.d", d.Domain, "header.i", d.Identity, "header.s", d.Selector, "header.b", b))
	}
	for _, d := range dmarc {
		if d != nil {
			res = append(res, resinfo("dmarc", d.Result, d.Reason,
				"header.from", d.From, "policy.dmarc", d.Policy))
		}
	}
	return fold(authservID, res)
}

// fold writes "authserv-id;" and the resinfos, each on a line of its own,
// folded at 78 octets (Format's layout).
func fold(authservID string, res [][]string) string {
	id := value(authservID, false)
	if id == "" {
		id = "localhost"
	}
	if len(res) == 0 {
		return id + "; none"
	}
	var b strings.Builder
	b.WriteString(id)
	b.WriteString(";")
	for i, words := range res {
		if i < len(res)-1 {
			words[len(words)-1] += ";"
		}
		writeResinfo(&b, words)
	}
	return b.String()
}

// appendResinfo returns v, a value made by Format, with one more resinfo
// (its words) on a line of its own, folded as Format folds.
func appendResinfo(v string, words []string) string {
	n := len(v) + 1
	for _, w := range words {
		n += len(w) + 3
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(v)
	b.WriteByte(';')
	writeResinfo(&b, words)
	return b.String()
}

// writeResinfo writes one resinfo's words on a line of its own, folded
// before a word that would take the line past maxLine.
func writeResinfo(b *strings.Builder, words []string) {
	b.WriteString("\r\n\t")
	col := 1 // the TAB
	for j, w := range words {
		if j > 0 {
			if col+1+len(w) > maxLine {
				b.WriteString("\r\n\t")
				col = 1
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
}

// resinfo builds "method=result (comment) ptype.prop=value ..." as words;
// properties with an empty value are left out. The comment is split into
// words so that it can be folded at its spaces.
func resinfo(method, result, reason string, props ...string) []string {
	return resinfoComment(method, result, comment(reason), props...)
}

// resinfoComment is resinfo with the comment already made (comment,
// commentN): "" for none.
func resinfoComment(method, result, comment string, props ...string) []string {
	r := strings.ToLower(token(result))
	if r == "" {
		r = "none"
	}
	n := 1 + len(props)/2 // the capacity the words need, with the comment's
	if comment != "" {
		n += strings.Count(comment, " ") + 1
	}
	words := append(make([]string, 0, n), method+"="+r)
	for w := range strings.FieldsSeq(comment) {
		words = append(words, w)
	}
	for i := 0; i+1 < len(props); i += 2 {
		if v := pvalue(props[i+1]); v != "" {
			words = append(words, props[i]+"="+v)
		}
	}
	return words
}

// clean drops control characters, replaces each non-ASCII character by "?",
// collapses whitespace, and trims.
func clean(s string) string {
	if isClean(s) {
		return s // most identities and reasons: nothing to change, no copy
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = b.Len() > 0
			continue
		case c < 0x20 || c == 0x7f:
			continue
		case c >= utf8.RuneSelf:
			_, n := utf8.DecodeRuneInString(s[i:])
			i += n - 1
			c = '?'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isClean reports whether clean would return s as it is: printable ASCII
// with single spaces between words and none at either end.
func isClean(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' || strings.Contains(s, "  ") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// comment returns "(text)" with parentheses and backslashes escaped as
// quoted-pairs (RFC 5322 §3.2.2), or "" for empty text.
func comment(s string) string { return commentN(s, maxComment) }

// commentN is comment with the text cut to n characters.
func commentN(s string, n int) string {
	s = clean(s)
	if len(s) > n {
		s = strings.TrimSpace(s[:n-3]) + "..."
	}
	if s == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('(')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '(' || c == ')' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte(')')
	return b.String()
}

// isTokenChar reports an RFC 2045 token character.
func isTokenChar(c byte) bool {
	return c > 0x20 && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

// token keeps only token characters (for result words).
func token(s string) string {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == len(s) {
		return s // a token already (the common case): no copy
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if isTokenChar(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// pvalue formats a property value (RFC 8601 §2.2 pvalue): as is when it is
// a token, or a domain or address made of token characters and one "@";
// otherwise as a quoted-string.
func pvalue(s string) string { return value(s, true) }

// value is an RFC 2045 value (token or quoted-string); with at, one "@" may
// stay unquoted.
func value(s string, at bool) string {
	s = clean(s)
	if s == "" {
		return ""
	}
	plain := !at && !strings.Contains(s, "@") || at && strings.Count(s, "@") <= 1
	for i := 0; plain && i < len(s); i++ {
		plain = isTokenChar(s[i]) || s[i] == '@'
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
