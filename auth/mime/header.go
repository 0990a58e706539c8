package mime

import (
	"bytes"
	stdmime "mime"
	"strings"
)

// headerValues returns the first Content-Type and Content-Transfer-Encoding
// of a part header (lines joined by LF, folds kept).
func headerValues(h []byte) (ct, cte string) {
	var haveCT, haveCTE bool
	for len(h) > 0 {
		// One field: a line and its continuation lines (RFC 5322 §2.2.3).
		end := 0
		for {
			i := bytes.IndexByte(h[end:], '\n')
			if i < 0 {
				end = len(h)
				break
			}
			end += i + 1
			if end >= len(h) || (h[end] != ' ' && h[end] != '\t') {
				break
			}
		}
		field := h[:end]
		h = h[end:]
		colon := bytes.IndexByte(field, ':')
		if colon <= 0 {
			continue
		}
		name := bytes.TrimSpace(field[:colon])
		switch {
		case !haveCT && bytes.EqualFold(name, []byte("Content-Type")):
			ct, haveCT = string(field[colon+1:]), true
		case !haveCTE && bytes.EqualFold(name, []byte("Content-Transfer-Encoding")):
			cte, haveCTE = string(field[colon+1:]), true
		}
	}
	return ct, cte
}

// setType fills an entity's type, parameters and encoding from raw header
// values. A missing or unparsable Content-Type is text/plain (RFC 2045
// §5.2); a type whose parameters do not parse keeps the type without them.
func setType(e *Entity, ct, cte string) {
	ct, cte = unfold(ct), unfold(cte)
	e.Type, e.Params = "text/plain", nil
	if ct != "" {
		t, params, err := stdmime.ParseMediaType(ct)
		if t != "" && (err == nil || err == stdmime.ErrInvalidMediaParameter) {
			e.Type, e.Params = t, params
		}
	}
	e.Encoding = strings.ToLower(cte)
	if e.Encoding == "" {
		e.Encoding = "7bit"
	}
}

// unfold drops line breaks and surrounding whitespace from a header value.
func unfold(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
	}
	return strings.TrimSpace(v)
}
