package failure

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Incident is one message's authentication failure, as a report tells it.
type Incident struct {
	Input // the author domain's result, applied record, SPF and DKIM

	Arrival    time.Time
	SourceIP   netip.Addr // invalid when unknown
	SourcePort uint16     // 0 when unknown
	// MailFrom is the reverse-path without <> ("" for the null sender).
	MailFrom string
	// AuthResults is the Authentication-Results value we added (authserv-id
	// and results; CRLF folds allowed).
	AuthResults string
	// SPFRecord is the SPF record of the MAIL FROM domain, when known: it
	// becomes SPF-DNS for an SPF failure of an aligned identifier.
	SPFRecord string
	// Delivery is what was done to the message (RFC 6591 Delivery-Result):
	// delivered, spam, policy, reject or other; "" omits the field.
	Delivery string
	// Header is the original header block as received; HeaderTruncated
	// says it was cut (whole fields) to a size limit.
	Header          []byte
	HeaderTruncated bool
	// Triggers are the fo options that asked for the report (Decide).
	Triggers []string
	// Incidents counts like incidents this report stands for (RFC 5965
	// §3.2 Incidents); 0 or 1 omits the field.
	Incidents int

	spfLooked bool // the Sender looked SPFRecord up
}

// Options are the report message's own fields.
type Options struct {
	From      string // the report's From address (addr-spec)
	To        string // the destination (addr-spec): one report per destination
	UserAgent string // RFC 5965 User-Agent, e.g. "authmilter/1.4.0"
	// ReportingMTA is this host's name (RFC 5965 Reporting-MTA); "" omits it.
	ReportingMTA string
	Date         time.Time
}

// ErrBadOption is returned for an Options value that cannot go into a
// header field (empty, or with a line break).
var ErrBadOption = errors.New("failure: bad report option")

// Build writes the failure report for inc to opt.To: a multipart/report
// (RFC 6522) with report-type=feedback-report holding a text part, the
// message/feedback-report part (RFC 5965 §3, RFC 6591 §3, §4 of RFC 9991)
// and the original header as text/rfc822-headers (RFC 9991 Appendix A),
// with every local-part redacted by red (RFC 6590). The body is never
// included. The result depends only on its arguments.
func Build(inc *Incident, opt Options, red *Redactor) ([]byte, error) {
	for k, v := range map[string]string{"From": opt.From, "To": opt.To, "User-Agent": opt.UserAgent} {
		if v == "" || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("%w: %s %q", ErrBadOption, k, v)
		}
	}
	if strings.ContainsAny(opt.ReportingMTA, "\r\n \t") {
		return nil, fmt.Errorf("%w: Reporting-MTA %q", ErrBadOption, opt.ReportingMTA)
	}
	domain := oneLine(inc.Result.Domain)
	text := humanPart(inc, domain)
	feedback := feedbackPart(inc, opt, red)
	header := red.Header(inc.Header)

	sum := sha256.New()
	for _, p := range [][]byte{[]byte(opt.To), []byte(opt.Date.UTC().Format(time.RFC3339Nano)), []byte(text), feedback, header} {
		sum.Write(p)
		sum.Write([]byte{0})
	}
	id := hex.EncodeToString(sum.Sum(nil)[:12])
	boundary := "afrf-" + id
	for n := 0; bytes.Contains(header, []byte(boundary)) || bytes.Contains(feedback, []byte(boundary)); n++ {
		boundary = "afrf-" + id + "-" + strconv.Itoa(n)
	}

	var b bytes.Buffer
	b.Grow(len(header) + len(feedback) + 2048)
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", "<"+opt.From+">")
	hdr("To", "<"+opt.To+">")
	hdr("Date", opt.Date.Format(time.RFC1123Z))
	hdr("Subject", "DMARC failure report for "+domain)
	hdr("Message-ID", "<"+id+"@"+domainOf(opt.From)+">")
	hdr("MIME-Version", "1.0")
	hdr("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies to it
	hdr("Content-Type", "multipart/report; report-type=feedback-report;\r\n\tboundary=\""+boundary+"\"")
	b.WriteString("\r\nThis is a DMARC failure report in MIME format.\r\n")

	part := func(ctype, cte string, body []byte) {
		b.WriteString("\r\n--" + boundary + "\r\n")
		b.WriteString("Content-Type: " + ctype + "\r\n")
		b.WriteString("Content-Transfer-Encoding: " + cte + "\r\n\r\n")
		b.Write(body)
	}
	part("text/plain; charset=us-ascii", "7bit", []byte(text))
	part("message/feedback-report", "7bit", feedback)
	part("text/rfc822-headers", transferEncoding(header), header)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// humanPart is the first part: what happened, for a person.
func humanPart(inc *Incident, domain string) string {
	var b strings.Builder
	b.WriteString("This is a DMARC failure report (RFC 9991) for a message with\r\n")
	b.WriteString("an author domain of " + domain)
	if inc.SourceIP.IsValid() {
		b.WriteString(",\r\nreceived from " + inc.SourceIP.String())
	}
	if !inc.Arrival.IsZero() {
		b.WriteString(" on " + inc.Arrival.UTC().Format(time.RFC1123Z))
	}
	b.WriteString(".\r\n\r\n")
	b.WriteString("DMARC result: " + oneLine(string(inc.Result.Result)) + "; mechanisms without an aligned pass: " + IdentityAlignment(inc.Result) + ".\r\n")
	if len(inc.Triggers) > 0 {
		b.WriteString("Reported because the policy record asks for it with fo=" + strings.Join(inc.Triggers, ":") + ".\r\n")
	}
	b.WriteString("Only the message header is included; local-parts of addresses are\r\nreplaced by opaque tokens.")
	if inc.HeaderTruncated {
		b.WriteString(" The header was cut to a size limit.")
	}
	b.WriteString("\r\n")
	return b.String()
}

// feedbackPart is the machine-readable part (RFC 5965 §3.1–3.2, RFC 6591
// §3, RFC 9991 §4).
func feedbackPart(inc *Incident, opt Options, red *Redactor) []byte {
	var b bytes.Buffer
	f := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	f("Feedback-Type", "auth-failure")
	f("Version", "1")
	f("User-Agent", opt.UserAgent)
	f("Auth-Failure", "dmarc")
	if ar := strings.TrimSpace(normalize([]byte(inc.AuthResults))); ar != "" {
		f("Authentication-Results", red.Text(ar, true))
	}
	f("Identity-Alignment", IdentityAlignment(inc.Result))
	if d, ok := alignedDKIMFailure(inc.Input); ok {
		f("DKIM-Domain", oneLine(d.Domain))
		if d.Identifier != "" {
			f("DKIM-Identity", redactIdentity(red, oneLine(d.Identifier)))
		}
		if d.Selector != "" {
			f("DKIM-Selector", oneLine(d.Selector))
		}
	}
	if alignedSPFFailure(inc.Input) && inc.SPFRecord != "" {
		f("SPF-DNS", "txt : "+oneLine(inc.SPF.Domain)+" : "+quote(inc.SPFRecord))
	}
	if inc.Delivery != "" {
		f("Delivery-Result", oneLine(inc.Delivery))
	}
	if inc.MailFrom == "" {
		f("Original-Mail-From", "<>")
	} else {
		f("Original-Mail-From", "<"+red.Address(oneLine(inc.MailFrom))+">")
	}
	if !inc.Arrival.IsZero() {
		f("Arrival-Date", inc.Arrival.Format(time.RFC1123Z))
	}
	if opt.ReportingMTA != "" {
		f("Reporting-MTA", "dns; "+opt.ReportingMTA)
	}
	if inc.SourceIP.IsValid() {
		f("Source-IP", inc.SourceIP.Unmap().String())
		if inc.SourcePort != 0 {
			f("Source-Port", strconv.Itoa(int(inc.SourcePort))) // RFC 6692 §3
		}
	}
	if inc.Incidents > 1 {
		f("Incidents", strconv.Itoa(inc.Incidents))
	}
	f("Reported-Domain", oneLine(inc.Result.Domain))
	return b.Bytes()
}

// redactIdentity redacts a DKIM i= value; "@domain" has no local-part.
func redactIdentity(red *Redactor, id string) string {
	if strings.HasPrefix(id, "@") {
		return id
	}
	return red.Address(id)
}

// oneLine keeps a value on one line: line breaks and controls become
// spaces.
func oneLine(s string) string {
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return ' '
		}
		return c
	}, s)
}

// quote is a quoted-string (RFC 5322 §3.2.4) of s.
func quote(s string) string {
	s = oneLine(s)
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

// transferEncoding is 7bit for ASCII, 8bit otherwise (an internationalized
// header, RFC 6532).
func transferEncoding(b []byte) string {
	for _, c := range b {
		if c >= 0x80 {
			return "8bit"
		}
	}
	return "7bit"
}
