package auth

import (
	"fmt"
	"strings"

	"github.com/authmilter/authmilter/auth/authres"
)

// rawField rebuilds one header field exactly as it was on the wire from the
// name and the value an MTA hands a milter. With the leading-space option the
// value keeps the whitespace after the colon; folds arrive as a bare LF (or
// CRLF) followed by the continuation's whitespace. The result ends in CRLF.
func rawField(name, value string) string {
	var b strings.Builder
	b.Grow(len(name) + len(value) + 4)
	if strings.ContainsAny(name, "\r\n") {
		// No MTA sends a line break in a field name; anything else on the
		// socket might, to plant a field of its own in what DKIM sees.
		name = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, name)
	}
	b.WriteString(name)
	b.WriteByte(':')
	writeCRLF(&b, value)
	b.WriteString("\r\n")
	return b.String()
}

// writeCRLF writes s with every line end (LF, CRLF or lone CR) as CRLF.
func writeCRLF(b *strings.Builder, s string) {
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(s[:i])
		b.WriteString("\r\n")
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

// unfold returns a header value without its line breaks and with leading and
// trailing whitespace removed, for parsers that want the logical value.
func unfold(value string) string {
	if strings.ContainsAny(value, "\r\n") {
		value = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(value)
	}
	return strings.TrimSpace(value)
}

// header formats our Authentication-Results value for a report.
func (e *Evaluator) header(r *Report) string {
	spfRes := &authres.SPFResult{Result: string(r.SPF.Result), Identity: r.SPF.Sender, Reason: r.SPF.Reason}
	if spfRes.Identity == "" {
		spfRes.Identity = r.SPF.Domain
	}
	var heloRes *authres.SPFResult
	if r.HELO.Result != "" && r.HELO.Domain != "" {
		heloRes = &authres.SPFResult{Result: string(r.HELO.Result), Identity: r.HELO.Domain, Reason: r.HELO.Reason}
	}
	dk := make([]authres.DKIMResult, 0, min(len(r.DKIM), e.cfg.DKIM.MaxSignatures+1))
	for i, d := range r.DKIM {
		if i == e.cfg.DKIM.MaxSignatures {
			// Signatures past the limit were not verified: one line says
			// so, instead of one each (1,000 signatures made a 114 KB
			// field, over Postfix's header_size_limit).
			dk = append(dk, authres.DKIMResult{Result: "policy",
				Reason: fmt.Sprintf("%d more signatures not verified", len(r.DKIM)-i)})
			break
		}
		dk = append(dk, authres.DKIMResult{
			Result: d.Result, Domain: d.Domain, Identity: d.Identifier, Selector: d.Selector,
			Signature: d.HeaderB, Reason: d.Reason,
		})
	}
	if len(dk) == 0 {
		dk = append(dk, authres.DKIMResult{Result: "none"})
	}
	// One dmarc= result per author domain (each counts in the decision);
	// without any, the one result that says why DMARC was not evaluated.
	var dm []*authres.DMARCResult
	for _, p := range r.PerAuthor {
		dm = append(dm, &authres.DMARCResult{Result: p.Result, From: p.Domain, Policy: p.Policy, Reason: p.Reason})
	}
	if len(dm) == 0 {
		d := &authres.DMARCResult{Result: r.DMARC.Result, From: r.DMARC.Domain, Policy: r.DMARC.Policy, Reason: r.DMARC.Reason}
		if d.From == "" && len(r.Authors) > 0 {
			d.From = r.Authors[0]
		}
		dm = append(dm, d)
	}
	return authres.Format(r.AuthservID, spfRes, heloRes, dk, dm...)
}
