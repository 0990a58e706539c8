package failure

import (
	"strings"

	"github.com/authmilter/authmilter/auth/dmarc"
)

// DKIM is one DKIM signature's result as the evaluation saw it.
type DKIM struct {
	Domain, Identifier, Selector string
	Result                       string // RFC 8601 word: pass, fail, permerror, ...
}

// SPF is the MAIL FROM identity's SPF result.
type SPF struct {
	Domain string
	Result string // RFC 8601 word
}

// Input is what Decide reads of one author domain's evaluation.
type Input struct {
	Result dmarc.Result  // that author domain's DMARC result
	Record *dmarc.Record // the applied record, parsed from Result.Record
	SPF    SPF
	DKIM   []DKIM
}

// Decide says which of the record's fo options (RFC 9989 §4.7) the message
// triggers; none means no failure report. A report needs a record that was
// applied with a final result (pass or fail; temperror, permerror and none
// never report) and that has a ruf tag, and never comes from a psd=y
// record (§2: PSD records' ruf is ignored without a specific agreement).
//
//   - "0": every mechanism failed to produce an aligned pass (DMARC fail).
//   - "1": some mechanism failed to produce an aligned pass.
//   - "d": a DKIM signature failed to verify (fail or permerror), aligned
//     or not (RFC 6651).
//   - "s": SPF failed (fail), aligned or not (RFC 6652).
//
// The d and s cases are reported in the same DMARC failure report (one
// report per message and destination), with the Identity-Alignment it has.
func Decide(in Input) []string {
	rec, res := in.Record, in.Result
	if rec == nil || len(rec.RUF) == 0 || rec.PSD == "y" || res.RecordDomain == "" {
		return nil
	}
	if res.Result != dmarc.ResultPass && res.Result != dmarc.ResultFail {
		return nil
	}
	var out []string
	for _, fo := range rec.FO {
		hit := false
		switch fo {
		case "0":
			hit = res.Result == dmarc.ResultFail
		case "1":
			hit = !res.SPFAligned || !res.DKIMAligned
		case "d":
			for _, d := range in.DKIM {
				if d.Result == "fail" || d.Result == "permerror" {
					hit = true
					break
				}
			}
		case "s":
			hit = in.SPF.Result == "fail"
		}
		if hit {
			out = append(out, fo)
		}
	}
	return out
}

// IdentityAlignment is the Identity-Alignment value (§4 item 2): the
// mechanisms that failed to authenticate an aligned identity, or "none".
func IdentityAlignment(res dmarc.Result) string {
	var m []string
	if !res.DKIMAligned {
		m = append(m, "dkim")
	}
	if !res.SPFAligned {
		m = append(m, "spf")
	}
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(m, ", ")
}

// alignedDKIMFailure is the first signature of an aligned domain that did
// not pass: its fields are required in the report (§4 item 1). Alignment is
// relaxed unless the record says adkim=s (RFC 9989 §4.4.1).
func alignedDKIMFailure(in Input) (DKIM, bool) {
	strict := in.Record != nil && in.Record.ADKIM == "s"
	for _, d := range in.DKIM {
		if d.Result == "pass" || d.Domain == "" {
			continue
		}
		if aligned(strings.ToLower(strings.TrimSuffix(d.Domain, ".")), in.Result, strict) {
			return d, true
		}
	}
	return DKIM{}, false
}

// alignedSPFFailure says whether SPF did not pass for an aligned MAIL FROM
// domain (aspf, RFC 9989 §4.4.2): SPF-DNS is then required.
func alignedSPFFailure(in Input) bool {
	strict := in.Record != nil && in.Record.ASPF == "s"
	d := strings.ToLower(strings.TrimSuffix(in.SPF.Domain, "."))
	return in.SPF.Result != "pass" && d != "" && aligned(d, in.Result, strict)
}

// aligned compares a domain with the author domain: equal, or (relaxed)
// within the author's Organizational Domain.
func aligned(d string, res dmarc.Result, strict bool) bool {
	if d == res.Domain {
		return true
	}
	o := res.OrgDomain
	return !strict && o != "" && (d == o || strings.HasSuffix(d, "."+o))
}
