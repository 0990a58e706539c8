package failure

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"mime"
	"net/mail"
	"strings"
)

// Redactor replaces local-parts with opaque tokens (RFC 6590 §3): the same
// local-part gives the same token under one key, so a domain owner can
// still see that two reports concern one mailbox, and nobody without the
// key can tell which. Domains are kept: they are what the report is about.
type Redactor struct {
	key []byte
}

// NewRedactor returns a Redactor keyed with key (random bytes, kept
// secret; a new key makes new tokens).
func NewRedactor(key []byte) *Redactor {
	return &Redactor{key: bytes.Clone(key)}
}

var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Local is the token that stands for a local-part: "redacted-" and 16
// letters and digits (80 bits of an HMAC-SHA256 of the local-part).
func (r *Redactor) Local(local string) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(local))
	return "redacted-" + tokenEncoding.EncodeToString(m.Sum(nil)[:10])
}

// Address redacts an addr-spec: the local-part becomes a token, the domain
// stays. An address without "@" is all local-part.
func (r *Redactor) Address(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return r.Local(addr[:i]) + addr[i:]
	}
	return r.Local(addr)
}

// addressFields are the fields whose value is a list of addresses
// (RFC 5322 §3.6.2–3.6.6, and common trace fields): they are rewritten as
// bare redacted addresses, display names dropped (a display name often
// spells out the local-part).
var addressFields = map[string]bool{
	"from": true, "sender": true, "reply-to": true, "to": true, "cc": true, "bcc": true,
	"resent-from": true, "resent-sender": true, "resent-to": true, "resent-cc": true, "resent-bcc": true,
	"return-path": true, "delivered-to": true, "x-original-to": true, "envelope-to": true,
	"errors-to": true, "disposition-notification-to": true, "return-receipt-to": true,
	"x-envelope-from": true, "x-envelope-to": true, "original-recipient": true, "final-recipient": true,
}

// taggedFields hold tag=value or property=value lists: there an "=" ends
// the tag, so "i=user@example.com" keeps its "i=".
var taggedFields = map[string]bool{
	"dkim-signature": true, "arc-message-signature": true, "arc-seal": true,
	"arc-authentication-results": true, "authentication-results": true, "received-spf": true,
}

// Header redacts a header block (fields as received, any line ends): every
// local-part in every field becomes a token. Line ends come out as CRLF;
// NUL bytes and bare CRs become spaces. Encoded-words (RFC 2047) are
// decoded first, so an address hidden in one is found too.
func (r *Redactor) Header(raw []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(raw) + len(raw)/8)
	for _, f := range splitFields(normalize(raw)) {
		out.WriteString(r.field(f))
	}
	return out.Bytes()
}

// normalize makes every line end CRLF and removes NULs and bare CRs.
func normalize(raw []byte) string {
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	s = strings.Map(func(c rune) rune {
		if c == 0 || c == '\r' {
			return ' '
		}
		return c
	}, s)
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// splitFields splits a header block into fields, each with its folds and
// its final CRLF. A block that does not end in CRLF gets one.
func splitFields(s string) []string {
	var fields []string
	start := 0
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "\r\n")
		if j < 0 {
			break
		}
		next := i + j + 2
		if next >= len(s) || (s[next] != ' ' && s[next] != '\t') {
			fields = append(fields, s[start:next])
			start = next
		}
		i = next
	}
	if start < len(s) {
		fields = append(fields, s[start:]+"\r\n")
	}
	return fields
}

// field redacts one field (with its final CRLF). A line that is not a
// field (no name, or a name with bytes RFC 5322 §2.2 does not allow) is
// kept as the value of an X-Invalid-Field, so the block stays a header; an
// empty line is dropped (it would end the block).
func (r *Redactor) field(f string) string {
	if f == "\r\n" {
		return ""
	}
	name, value, ok := strings.Cut(f, ":")
	if !ok || !validName(name) {
		return "X-Invalid-Field: " + r.Text(f, false)
	}
	lname := strings.ToLower(strings.TrimSpace(name))
	if addressFields[lname] {
		if v, ok := r.addressList(value); ok {
			return name + ":" + v + "\r\n"
		}
	}
	return name + ":" + r.encodedText(value, taggedFields[lname])
}

// validName says whether name is a field name: printable ASCII but ":".
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] >= 0x7f {
			return false
		}
	}
	return true
}

// addressList rewrites an address list as redacted bare addresses, one
// per line; false when it does not parse as one.
func (r *Redactor) addressList(value string) (string, bool) {
	v := strings.TrimSpace(value)
	if v == "<>" {
		return " <>", true // a null Return-Path
	}
	as, err := mail.ParseAddressList(v)
	if err != nil || len(as) == 0 {
		return "", false
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = "<" + r.Address(a.Address) + ">"
	}
	return " " + strings.Join(parts, ",\r\n "), true
}

// encodedText redacts a field value; one with encoded-words is decoded,
// redacted and written back as UTF-8 encoded-words when it needs them.
func (r *Redactor) encodedText(value string, tagged bool) string {
	if strings.Contains(value, "=?") {
		dec, err := new(mime.WordDecoder).DecodeHeader(value)
		if err != nil {
			// A charset we cannot read: its words could hide an
			// address, so they go.
			value = dropUndecodable(value)
			dec, err = new(mime.WordDecoder).DecodeHeader(value)
		}
		if err == nil && dec != value {
			red := r.Text(dec, tagged)
			if red == dec {
				return value
			}
			return encodeLines(red)
		}
	}
	return r.Text(value, tagged)
}

// dropUndecodable replaces each encoded-word (RFC 2047 §2) that does not
// decode with "[undecodable]".
func dropUndecodable(v string) string {
	var b strings.Builder
	for {
		i := strings.Index(v, "=?")
		if i < 0 {
			break
		}
		end := wordEnd(v[i:])
		if end < 0 {
			b.WriteString(v[:i+2])
			v = v[i+2:]
			continue
		}
		w := v[i : i+end]
		b.WriteString(v[:i])
		if _, err := new(mime.WordDecoder).Decode(w); err != nil {
			b.WriteString("[undecodable]")
		} else {
			b.WriteString(w)
		}
		v = v[i+end:]
	}
	b.WriteString(v)
	return b.String()
}

// wordEnd is the length of the encoded-word "=?charset?enc?text?=" at the
// start of s, or -1.
func wordEnd(s string) int {
	q := 0
	for i := 2; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			return -1
		case '?':
			q++
			if q == 3 {
				if i+1 < len(s) && s[i+1] == '=' {
					return i + 2
				}
				return -1
			}
		}
	}
	return -1
}

// encodeLines writes decoded text back: each line's non-ASCII or "=?"
// words as Q encoded-words, line ends kept.
func encodeLines(s string) string {
	lines := strings.Split(s, "\r\n")
	for i, l := range lines {
		words := strings.Split(l, " ")
		for j, w := range words {
			if needsEncoding(w) {
				words[j] = mime.QEncoding.Encode("utf-8", w)
			}
		}
		lines[i] = strings.Join(words, " ")
	}
	return strings.Join(lines, "\r\n")
}

func needsEncoding(w string) bool {
	if strings.Contains(w, "=?") {
		return true
	}
	for i := 0; i < len(w); i++ {
		if w[i] >= 0x80 || (w[i] < 0x20 && w[i] != '\t') {
			return true
		}
	}
	return false
}

// Text redacts every local-part found in free text: the run of local-part
// characters (RFC 5322 atext, dots, UTF-8) or the quoted string before an
// "@" (or a URL's "%40") that a domain follows. In a tagged field the run
// starts after its first "=" (the tag's), and in a URL ("%40") after the
// last "/", "?", "=" or "&".
func (r *Redactor) Text(s string, tagged bool) string {
	var out strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		at := 0
		switch {
		case s[i] == '@':
			at = 1
		case s[i] == '%' && i+2 < len(s) && s[i+1] == '4' && s[i+2] == '0':
			at = 3
		}
		if at == 0 {
			continue
		}
		if i+at >= len(s) || !isDomainChar(s[i+at]) {
			continue
		}
		j := localStart(s, last, i, tagged, at == 3)
		if j >= i {
			continue
		}
		if out.Len() == 0 {
			out.Grow(len(s) + 32)
		}
		out.WriteString(s[last:j])
		out.WriteString(r.Local(s[j:i]))
		last = i
		i += at - 1
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// localStart finds where the local-part ending at end begins (not before
// floor): a quoted string, or a run of local-part characters.
func localStart(s string, floor, end int, tagged, urlEncoded bool) int {
	if end > floor && s[end-1] == '"' {
		for k := end - 2; k >= floor; k-- {
			if s[k] == '"' && (k == floor || s[k-1] != '\\') {
				return k
			}
		}
		return end - 1
	}
	j := end
	for j > floor && isLocalChar(s[j-1]) {
		j--
	}
	if tagged {
		if k := strings.IndexByte(s[j:end], '='); k >= 0 {
			j += k + 1
		}
	}
	if urlEncoded {
		if k := strings.LastIndexAny(s[j:end], "/?=&"); k >= 0 {
			j += k + 1
		}
	}
	return j
}

func isLocalChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0
}

func isDomainChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '[' || c >= 0x80
}
