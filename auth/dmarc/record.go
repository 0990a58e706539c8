package dmarc

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Policy words of the p, sp and np tags (RFC 9989 §4.7).
const (
	PolicyNone       = "none"
	PolicyQuarantine = "quarantine"
	PolicyReject     = "reject"
)

// Record is a parsed DMARC policy record (RFC 9989 §4.7). Parsing is
// tolerant (§4.8): an unknown tag is ignored and a tag whose value does not
// parse falls back to its default; the Invalid fields say which of p, sp and
// np were present with a bad value, because those follow the rua rule of
// §4.10.1 instead (see EffectivePolicy).
type Record struct {
	Raw string // the record text as published (RRs joined)

	P, SP, NP                      string // "none", "quarantine", "reject"; "" when absent or invalid
	PInvalid, SPInvalid, NPInvalid bool   // present with a value that is not a policy word

	PSD     string // "y", "n" or "u" (default)
	Testing bool   // t=y
	HasT    bool   // a valid t tag was present (it overrides legacy pct)
	ADKIM   string // "r" (default) or "s"
	ASPF    string // "r" (default) or "s"
	RUA     []string
	RUF     []string
	FO      []string // "0" (default), "1", "d", "s"

	// Pct is the legacy pct tag (removed by RFC 9989, §C.5.2), -1 when
	// absent or invalid.
	Pct int
}

// ParseRecord parses the text of one TXT RR (its strings already joined).
// The first tag must be v with exactly "DMARC1" (case-sensitive, whitespace
// around "=" allowed); otherwise ParseRecord returns ErrInvalidRecord. Every
// other defect is tolerated per §4.8.
func ParseRecord(s string) (*Record, error) {
	tags := strings.Split(s, ";")
	k, v, ok := splitTag(tags[0])
	if !ok || !strings.EqualFold(k, "v") || v != "DMARC1" {
		return nil, fmt.Errorf("%w: first tag is not v=DMARC1", ErrInvalidRecord)
	}
	r := &Record{Raw: s, PSD: "u", ADKIM: "r", ASPF: "r", FO: []string{"0"}, Pct: -1}
	seen := map[string]bool{}
	for _, t := range tags[1:] {
		k, v, ok := splitTag(t)
		if !ok {
			continue
		}
		k = strings.ToLower(k)
		if seen[k] {
			continue // the first occurrence wins
		}
		seen[k] = true
		lv := strings.ToLower(v)
		switch k {
		case "p":
			r.P, r.PInvalid = policyWord(lv)
		case "sp":
			r.SP, r.SPInvalid = policyWord(lv)
		case "np":
			r.NP, r.NPInvalid = policyWord(lv)
		case "psd":
			if lv == "y" || lv == "n" || lv == "u" {
				r.PSD = lv
			}
		case "t":
			if lv == "y" || lv == "n" {
				r.Testing, r.HasT = lv == "y", true
			}
		case "adkim":
			if lv == "r" || lv == "s" {
				r.ADKIM = lv
			}
		case "aspf":
			if lv == "r" || lv == "s" {
				r.ASPF = lv
			}
		case "rua":
			r.RUA = parseURIs(v)
		case "ruf":
			r.RUF = parseURIs(v)
		case "fo":
			if fo := parseFO(lv); fo != nil {
				r.FO = fo
			}
		case "pct":
			if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 100 {
				r.Pct = n
			}
		}
	}
	return r, nil
}

// splitTag splits "k = v" and trims the whitespace the ABNF allows.
func splitTag(t string) (k, v string, ok bool) {
	k, v, ok = strings.Cut(t, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	return k, v, ok && k != ""
}

func policyWord(v string) (p string, invalid bool) {
	switch v {
	case PolicyNone, PolicyQuarantine, PolicyReject:
		return v, false
	}
	return "", true
}

// parseURIs keeps the syntactically valid URIs of a rua or ruf list. The
// obsolete "!size" suffix is accepted and dropped (§4.7). Only absolute
// URIs with a scheme are kept; which schemes can be used is the reporter's
// business.
func parseURIs(v string) []string {
	var out []string
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if i := strings.LastIndexByte(u, '!'); i >= 0 {
			u = u[:i]
		}
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme == "" || (pu.Opaque == "" && pu.Host == "" && pu.Path == "") {
			continue
		}
		if strings.EqualFold(pu.Scheme, "mailto") && !strings.Contains(pu.Opaque, "@") {
			continue
		}
		out = append(out, u)
	}
	return out
}

// parseFO parses the colon-separated fo list; nil when invalid ("0" and "1"
// are mutually exclusive).
func parseFO(v string) []string {
	var out []string
	has := map[string]bool{}
	for _, o := range strings.Split(v, ":") {
		o = strings.TrimSpace(o)
		switch o {
		case "0", "1", "d", "s":
		default:
			return nil
		}
		if !has[o] {
			has[o] = true
			out = append(out, o)
		}
	}
	if has["0"] && has["1"] {
		return nil
	}
	return out
}

// Which policy tag applies to a message (RFC 9989 §4.10.1).
const (
	tagP  = "p"
	tagSP = "sp"
	tagNP = "np"
)

// EffectivePolicy returns the policy the record gives for the tag "p",
// "sp" or "np", with the defaults of §4.7 (sp defaults to p, np to sp or
// else p) and the rule of §4.10.1 for a missing or invalid value: act as
// p=none when rua holds at least one valid URI, otherwise apply no DMARC
// (ok false; invalid true when a bad value rather than a missing p caused
// it).
func (r *Record) EffectivePolicy(tag string) (policy string, ok, invalid bool) {
	switch tag {
	case tagNP:
		if r.NP != "" {
			return r.NP, true, false
		}
		if r.NPInvalid {
			return r.ruaFallback(true)
		}
		fallthrough
	case tagSP:
		if r.SP != "" {
			return r.SP, true, false
		}
		if r.SPInvalid {
			return r.ruaFallback(true)
		}
	}
	if r.P != "" {
		return r.P, true, false
	}
	return r.ruaFallback(r.PInvalid)
}

func (r *Record) ruaFallback(invalid bool) (string, bool, bool) {
	if len(r.RUA) > 0 {
		return PolicyNone, true, false
	}
	return "", false, invalid
}
