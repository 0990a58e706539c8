package auth

import (
	"fmt"
	"strings"

	"github.com/authmilter/authmilter/auth/arc"
	"github.com/authmilter/authmilter/auth/authres"
	"github.com/authmilter/authmilter/auth/policy"
)

// rawField rebuilds one header field from the name and the value an MTA
// hands a milter, as DKIM reads it: with the leading-space option the value
// keeps the whitespace after the colon; a fold arrives as a bare LF (or
// CRLF) followed by the continuation's whitespace and is written as CRLF.
// The result ends in CRLF and is always one field, never two, even for a
// malformed field:
//   - a CR in the value that is not part of a line break (RFC 5322 §2.2
//     allows CR only in CRLF) is kept as an octet, not made a line break:
//     DKIM hashes the octets DMARC reads, and DMARC refuses such a From;
//   - a line break not followed by SP or HTAB, which would start a field
//     of its own or end the header block, is written as a fold (CRLF SP);
//   - a CR or LF in the name becomes SP.
//
// No MTA sends the last two; anything else on the socket might, to plant a
// field of its own in what DKIM sees.
func rawField(name, value string) string {
	var b strings.Builder
	b.Grow(len(name) + len(value) + 4)
	if strings.ContainsAny(name, "\r\n") {
		name = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, name)
	}
	b.WriteString(name)
	b.WriteByte(':')
	writeValue(&b, value)
	b.WriteString("\r\n")
	return b.String()
}

// writeValue writes a field value for rawField: a line break (LF or CRLF)
// as CRLF, followed by SP when what follows it is not SP or HTAB; any other
// CR as itself.
func writeValue(b *strings.Builder, s string) {
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(strings.TrimSuffix(s[:i], "\r"))
		b.WriteString("\r\n")
		s = s[i+1:]
		if len(s) == 0 || (s[0] != ' ' && s[0] != '\t') {
			b.WriteByte(' ')
		}
	}
}

// nameProblem says why a field name breaks RFC 5322, or "" when it does
// not: a name is printable US-ASCII other than ":" (§3.6.8), WSP before the
// colon allowed (obs-optional, §4.5.8). (What a value may hold is the
// reader's to say: for From, dmarc.AuthorDomains.)
func nameProblem(name string) string {
	n := strings.TrimRight(name, " \t")
	if n == "" {
		return "empty field name"
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Sprintf("octet %q in field name", c)
		}
	}
	return ""
}

// hidesFrom reports whether a field that is not a From holds a bare CR, or
// a line break that is not a fold, followed by "From" and a colon
// (WSP between them allowed): a reader that takes such a CR for a line end
// sees a From field there.
func hidesFrom(name, value string) bool {
	if strings.ContainsAny(name, "\r\n") && fromAfterBreak(name+":") {
		return true // rare: only a name with a line break is copied
	}
	return fromAfterBreak(value)
}

// fromAfterBreak reports whether a CR or LF in s, other than the CR of a
// CRLF, is followed by "From", optional WSP and a colon.
func fromAfterBreak(s string) bool {
	for i := strings.IndexAny(s, "\r\n"); i >= 0; {
		rest := s[i+1:]
		if !(s[i] == '\r' && strings.HasPrefix(rest, "\n")) && len(rest) >= 4 &&
			strings.EqualFold(rest[:4], "From") && strings.HasPrefix(strings.TrimLeft(rest[4:], " \t"), ":") {
			return true
		}
		j := strings.IndexAny(rest, "\r\n")
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// fieldName is a field's name as DKIM reads it from rawField's output (the
// text before the first colon, whitespace trimmed): the name every check
// that must see the header as DKIM does compares.
func fieldName(name string) string {
	name, _, _ = strings.Cut(name, ":")
	return strings.TrimSpace(name)
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
			Result: string(d.Result), Domain: d.Domain, Identity: d.Identifier, Selector: d.Selector,
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
		dm = append(dm, &authres.DMARCResult{Result: string(p.Result), From: p.Domain, Policy: p.Policy, Reason: overrideNote(r, p.Domain, p.Reason)})
	}
	if len(dm) == 0 {
		d := &authres.DMARCResult{Result: string(r.DMARC.Result), From: r.DMARC.Domain, Policy: r.DMARC.Policy,
			Reason: overrideNote(r, r.DMARC.Domain, r.DMARC.Reason)}
		if d.From == "" && len(r.Authors) > 0 {
			d.From = r.Authors[0]
		}
		dm = append(dm, d)
	}
	h := authres.Format(r.AuthservID, spfRes, heloRes, dk, dm...)
	if r.ARC.Result != arc.None || e.sealer != nil {
		h = authres.AppendARC(h, arcHeaderResult(r))
	}
	return h
}

// overrideNote is the dmarc= comment for domain: its reason, or, when a
// trusted ARC sealer's chain overrode its outcome, that override (the
// result itself stays fail).
func overrideNote(r *Report, domain, reason string) string {
	if o := r.Decision.Override; o.Kind == policy.OverrideARC && domain == r.Decision.Author {
		return "overridden: trusted ARC sealer " + o.Detail
	}
	return reason
}
