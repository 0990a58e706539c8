package dkim

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of the parsers. Each parse error wraps one of them.
var (
	// ErrTagList: a DKIM tag-list (RFC 6376 §3.2) is malformed.
	ErrTagList = errors.New("dkim: malformed tag list")
	// ErrSignature: a DKIM-Signature field is unusable (RFC 6376 §6.1.1).
	ErrSignature = errors.New("dkim: bad signature field")
	// ErrKeyRecord: a key record is unusable (RFC 6376 §3.6.1, §6.1.2).
	ErrKeyRecord = errors.New("dkim: bad key record")
	// ErrKeyRevoked: the key record has an empty p= (RFC 6376 §3.6.1).
	ErrKeyRevoked = errors.New("dkim: key revoked")
)

// parseTagList parses an RFC 6376 §3.2 tag-list:
//
//	tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//	tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//	tag-name  =  ALPHA *ALNUMPUNC
//
// Values are returned with surrounding whitespace removed and inner folding
// kept. Duplicate tag names make the whole list invalid (§3.2). Tag values are
// not checked against VALCHAR here: each tag's own parser is stricter where it
// matters.
func parseTagList(s string) (map[string]string, error) {
	tags := make(map[string]string, strings.Count(s, ";")+1)
	for spec := range strings.SplitSeq(s, ";") {
		if trimFWS(spec) == "" {
			continue // empty spec: trailing ";" or ";;"
		}
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %q has no '='", ErrTagList, shorten(trimFWS(spec)))
		}
		name = trimFWS(name)
		if !isTagName(name) {
			return nil, fmt.Errorf("%w: bad tag name %q", ErrTagList, shorten(name))
		}
		if _, dup := tags[name]; dup {
			return nil, fmt.Errorf("%w: duplicate tag %q", ErrTagList, name)
		}
		tags[name] = trimFWS(value)
	}
	return tags, nil
}

// isTagName reports whether s is ALPHA *(ALPHA / DIGIT / "_").
func isTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

func isFWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimFWS(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r < 0x80 && isFWS(byte(r)) })
}

// stripFWS removes all folding whitespace, as needed inside base64 values
// (RFC 6376 §3.5 b=, bh=; §3.6.1 p=) and colon-separated lists.
func stripFWS(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x80 && isFWS(byte(r)) }) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if !isFWS(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// splitColonList splits a colon-separated list (h=, q=, key h=, s=, t=) into
// its elements, whitespace removed, empty elements dropped.
func splitColonList(s string) []string {
	var out []string
	for e := range strings.SplitSeq(s, ":") {
		if e = stripFWS(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// shorten keeps error messages and reasons short on hostile input.
func shorten(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
