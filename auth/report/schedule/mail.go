package schedule

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/report"
	"github.com/authmilter/authmilter/auth/report/send"
	"github.com/authmilter/authmilter/auth/report/store"
)

// Recipients returns the e-mail addresses of a report's destinations: its
// mailto: URIs (RFC 9989 §4.7; other schemes are not supported and are
// skipped), percent-decoded, without any "?" header part (RFC 6068).
func Recipients(dests []string) []string {
	var out []string
	for _, d := range dests {
		if a, err := send.MailtoAddress(d); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// Message composes the report e-mail (§3.5.2): the Subject of the ABNF,
// the Report-ID in the Message-ID, Auto-Submitted (RFC 3834), a short
// text part and the stored .xml.gz as an application/gzip attachment with
// the §3.5.1 filename. from is the sender address; date the Date field.
// Lines end in CRLF and stay under 998 octets (RFC 5322 §2.1.1); the bytes depend only on the arguments.
func Message(b store.Built, meta report.Meta, from string, date time.Time) []byte {
	r := report.Report{Meta: meta, ID: b.ID, Period: b.Period, Policy: report.Policy{Domain: b.PolicyDomain}}
	sum := sha256.Sum256([]byte(b.ID))
	boundary := "report-" + hex.EncodeToString(sum[:12])
	var m bytes.Buffer
	h := func(k, v string) { m.WriteString(k + ": " + v + "\r\n") }
	// The org name as display name (RFC 2047-encoded if not ASCII).
	h("From", (&mail.Address{Name: meta.OrgName, Address: from}).String())
	if to := Recipients(b.Dests); len(to) > 0 {
		h("To", strings.Join(to, ",\r\n "))
	}
	// 1*FWS after each keyword: folded so that no line passes 78.
	h("Subject", "Report Domain: "+b.PolicyDomain+"\r\n Submitter: "+meta.Submitter+"\r\n Report-ID: "+b.ID)
	h("Date", date.UTC().Format(time.RFC1123Z))
	h("Message-ID", r.MessageID())
	h("MIME-Version", "1.0")
	h("Auto-Submitted", "auto-generated")
	h("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	m.WriteString("\r\n")
	m.WriteString("--" + boundary + "\r\n")
	m.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
	fmt.Fprintf(&m, "This is a DMARC aggregate report (RFC 9990) from %s\r\nfor %s,\r\n%s to %s UTC: %d messages in %d rows.\r\n",
		meta.OrgName, b.PolicyDomain,
		time.Unix(b.Period.Begin, 0).UTC().Format("2006-01-02 15:04:05"),
		time.Unix(b.Period.End, 0).UTC().Format("2006-01-02 15:04:05"), b.Messages, b.Rows)
	m.WriteString("--" + boundary + "\r\n")
	// The filename is longer than a 78-character line: fold after the
	// type, never split the name (RFC 2231 continuations confuse
	// consumers). RFC 5322 §2.1.1 allows lines up to 998.
	m.WriteString("Content-Type: " + strings.Replace(r.ContentType(), "; ", ";\r\n ", 1) + "\r\n")
	m.WriteString("Content-Disposition: " + strings.Replace(r.ContentDisposition(), "; ", ";\r\n ", 1) + "\r\n")
	m.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(b.XMLGz)
	for len(enc) > 76 {
		m.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	if enc != "" {
		m.WriteString(enc + "\r\n")
	}
	m.WriteString("--" + boundary + "--\r\n")
	return m.Bytes()
}
