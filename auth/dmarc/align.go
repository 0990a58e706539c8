package dmarc

import "strings"

// The words of SPFInput.Result and DKIMInput.Result that DMARC reads.
const (
	inputPass      = "pass"
	inputTemperror = "temperror"
)

// align completes res from identifier alignment (§4.4) under rec:
//
//   - pass when the SPF pass of the MAIL FROM identity or any DKIM pass is
//     aligned with the author (§4.4.1, §5.3.5);
//   - otherwise temperror when the result depends on a query that failed
//     transiently (§4.10.1, §5.3.6): a passing identifier whose alignment
//     needed a walk that failed, or an identifier that is (or may be)
//     aligned whose own check ended in temperror. Such mail may well be
//     legitimate; a permanent fail would reject it for a DNS outage;
//   - otherwise fail. A temperror of an identifier that is not aligned does
//     not matter: even its pass could not have made the message pass.
func (s *session) align(res *Result, author, orgAuthor string, errAuthor error, rec *Record, spf SPFInput, dkim []DKIMInput) {
	// aligned reports whether domain is aligned with the author; unknown
	// (a walk failed) is an error. A domain that does not normalise is not
	// aligned.
	aligned := func(domain, mode string) (bool, error) {
		d, err := NormalizeDomain(domain)
		if err != nil {
			return false, nil
		}
		return s.aligned(d, author, mode, orgAuthor, errAuthor)
	}
	var temp string // why the result is temperror when nothing passes aligned
	var tempErr error
	if strings.EqualFold(spf.Result, inputPass) {
		ok, err := aligned(spf.Domain, rec.ASPF)
		res.SPFAligned = ok
		if err != nil {
			temp, tempErr = "DNS failure in alignment", err
		}
	}
	for _, k := range dkim {
		if !strings.EqualFold(k.Result, inputPass) {
			continue
		}
		ok, err := aligned(k.Domain, rec.ADKIM)
		if ok {
			res.DKIMAligned = true
			break
		}
		if err != nil && temp == "" {
			temp, tempErr = "DNS failure in alignment", err
		}
	}
	if res.SPFAligned || res.DKIMAligned {
		res.Result, res.Reason = ResultPass, alignedReason(*res)
		return
	}
	if temp == "" && strings.EqualFold(spf.Result, inputTemperror) {
		if ok, err := aligned(spf.Domain, rec.ASPF); ok || err != nil {
			temp, tempErr = "spf temperror on an aligned domain", err
		}
	}
	for _, k := range dkim {
		if temp != "" {
			break
		}
		if !strings.EqualFold(k.Result, inputTemperror) {
			continue
		}
		if ok, err := aligned(k.Domain, rec.ADKIM); ok || err != nil {
			temp, tempErr = "dkim temperror on an aligned domain", err
		}
	}
	if temp != "" {
		res.Result, res.Reason = ResultTemperror, temp
		s.log.Debug("dmarc: temperror", "domain", author, "reason", temp, "err", tempErr)
		return
	}
	res.Result, res.Reason = ResultFail, "no aligned identifier"
}
