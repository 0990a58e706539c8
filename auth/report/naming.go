package report

import (
	"bytes"
	"compress/gzip"
	"strconv"
	"strings"
)

// Filename returns the attachment name (§3.5.1):
//
//	filename = receiver "!" policy-domain "!" begin-timestamp "!"
//	           end-timestamp [ "!" unique-id ] "." extension
//	unique-id = 1*(ALPHA / DIGIT); extension = "xml" / "xml.gz"
//
// The unique-id is the Report-ID, so a resend keeps the same name.
func (r Report) Filename(gz bool) string {
	ext := ".xml"
	if gz {
		ext = ".xml.gz"
	}
	return r.Meta.Submitter + "!" + r.Policy.Domain + "!" +
		strconv.FormatInt(r.Period.Begin, 10) + "!" + strconv.FormatInt(r.Period.End, 10) +
		"!" + r.ID + ext
}

// Subject returns the Subject (§3.5.2; the literals are case-sensitive):
//
//	"Report" 1*FWS "Domain:" 1*FWS domain-name 1*FWS "Submitter:" 1*FWS
//	domain-name [1*FWS "Report-ID:" 1*FWS ridtxt]
func (r Report) Subject() string {
	return "Report Domain: " + r.Policy.Domain + " Submitter: " + r.Meta.Submitter + " Report-ID: " + r.ID
}

// MessageID returns a Message-ID value carrying the Report-ID (§3.1.4
// allows it; it helps receivers detect duplicates).
func (r Report) MessageID() string {
	return "<" + r.ID + "@" + r.Meta.Submitter + ">"
}

// ContentType and ContentDisposition return the attachment's header values
// for the gzip form (§3.5.2: application/gzip SHOULD). The name is set in
// both (some consumers read only Content-Type's name), as a plain token
// when it is one, else as a quoted string; never RFC 2231 continuations.
func (r Report) ContentType() string {
	return "application/gzip; name=" + tokenOrQuoted(r.Filename(true))
}

// ContentDisposition: see ContentType.
func (r Report) ContentDisposition() string {
	return "attachment; filename=" + tokenOrQuoted(r.Filename(true))
}

// tokenOrQuoted renders a MIME parameter value (RFC 2045 §5.1).
func tokenOrQuoted(v string) string {
	tok := v != ""
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			tok = false
			break
		}
	}
	if tok {
		return v
	}
	q := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)
	return `"` + q + `"`
}

// Gzip compresses b deterministically (no name, no time stamp), so a
// rebuild or resend carries the same bytes (§3.5.4).
func Gzip(b []byte) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}
