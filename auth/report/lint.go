package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/authmilter/authmilter/auth/dmarc"
)

// The parsed shape of a report, for Lint. Only what the rules look at.
type xFeedback struct {
	XMLName   xml.Name `xml:"feedback"`
	Version   *string  `xml:"version"`
	Meta      xMeta    `xml:"report_metadata"`
	Policy    xPolicy  `xml:"policy_published"`
	Extension *struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"extension"`
	Records []xRecord `xml:"record"`
}

type xMeta struct {
	ReportID string `xml:"report_id"`
	Begin    string `xml:"date_range>begin"`
	End      string `xml:"date_range>end"`
}

type xPolicy struct {
	Domain    string  `xml:"domain"`
	Discovery string  `xml:"discovery_method"`
	P         string  `xml:"p"`
	SP        string  `xml:"sp"`
	NP        string  `xml:"np"`
	FO        string  `xml:"fo"`
	ADKIM     string  `xml:"adkim"`
	ASPF      string  `xml:"aspf"`
	Testing   string  `xml:"testing"`
	Pct       *string `xml:"pct"`
}

type xRecord struct {
	SourceIP    string    `xml:"row>source_ip"`
	Count       string    `xml:"row>count"`
	Disposition string    `xml:"row>policy_evaluated>disposition"`
	DKIM        string    `xml:"row>policy_evaluated>dkim"`
	SPF         string    `xml:"row>policy_evaluated>spf"`
	Reasons     []xReason `xml:"row>policy_evaluated>reason"`
	HeaderFrom  string    `xml:"identifiers>header_from"`
	EnvFrom     string    `xml:"identifiers>envelope_from"`
	EnvTo       string    `xml:"identifiers>envelope_to"`
	AuthDKIM    []xDKIM   `xml:"auth_results>dkim"`
	AuthSPF     []xSPF    `xml:"auth_results>spf"`
	Extra       []xAny    `xml:",any"`
}

type xReason struct {
	Type    string `xml:"type"`
	Comment string `xml:"comment"`
}

type xDKIM struct {
	Domain   string `xml:"domain"`
	Selector string `xml:"selector"`
	Result   string `xml:"result"`
}

type xSPF struct {
	Domain string `xml:"domain"`
	Scope  string `xml:"scope"`
	Result string `xml:"result"`
}

type xAny struct {
	XMLName xml.Name
}

// maxLint bounds the input Lint accepts; a day's report of a busy domain
// is far smaller.
const maxLint = 64 << 20

// Lint checks an aggregate report for the rules the XML schema cannot
// express (its types are strings and integers) and for our own
// conventions. It returns every problem found; none means the report is
// clean. Run it after the XSD, which checks structure and enumerations.
func Lint(b []byte) []error {
	if len(b) > maxLint {
		return []error{fmt.Errorf("report larger than %d bytes", maxLint)}
	}
	var f xFeedback
	d := xml.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&f); err != nil {
		return []error{fmt.Errorf("xml: %w", err)}
	}
	l := &linter{}
	l.feedback(&f)
	return l.errs
}

type linter struct{ errs []error }

func (l *linter) add(format string, a ...any) { l.errs = append(l.errs, fmt.Errorf(format, a...)) }

func (l *linter) feedback(f *xFeedback) {
	if f.XMLName.Space != Namespace { // §6.1, Appendix A
		l.add("root namespace %q, want %q", f.XMLName.Space, Namespace)
	}
	if f.Version != nil && strings.TrimSpace(*f.Version) != "1.0" { // §3.1.1.1
		l.add("version %q, want 1.0", *f.Version)
	}
	l.meta(&f.Meta)
	l.policy(&f.Policy)
	if len(f.Records) == 0 {
		l.add("no record")
	}
	seen := map[string]int{}
	for i := range f.Records {
		r := &f.Records[i]
		l.record(i+1, r, &f.Policy)
		k := r.key()
		if j, ok := seen[k]; ok { // §3.1.1.8: one record per distinct tuple
			l.add("record %d repeats record %d", i+1, j)
		}
		seen[k] = i + 1
	}
}

// meta checks the Report-ID (letters and digits, §3.1.4/§3.5.1 unique-id)
// and the period (§3.1.1.4: UTC-aligned, at most 24 h, RFC 9989 §5.3.8).
func (l *linter) meta(m *xMeta) {
	if !isLowerAlnum(m.ReportID) {
		l.add("report_id %q: want lower-case letters and digits only", m.ReportID)
	}
	b, errB := strconv.ParseInt(strings.TrimSpace(m.Begin), 10, 64)
	e, errE := strconv.ParseInt(strings.TrimSpace(m.End), 10, 64)
	if errB != nil || errE != nil {
		l.add("date_range %q..%q: not integers", m.Begin, m.End)
		return
	}
	n := e - b + 1
	switch {
	case b < 0 || e <= b:
		l.add("date_range %d..%d: begin must be before end", b, e)
	case n > 86400:
		l.add("date_range %d..%d: longer than 24 h", b, e)
	case 86400%n != 0 || b%n != 0:
		l.add("date_range %d..%d: not aligned to UTC midnight", b, e)
	}
}

func isLowerAlnum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// policy checks policy_published (§3.1.1.6).
func (l *linter) policy(p *xPolicy) {
	l.domain("policy_published/domain", p.Domain)
	if p.Pct != nil {
		l.add("policy_published has pct (removed by RFC 9989)")
	}
	// §3.1.1.6: "Unspecified tags have their default values" shown.
	for _, f := range []struct{ name, v string }{
		{"p", p.P}, {"sp", p.SP}, {"np", p.NP}, {"fo", p.FO}, {"adkim", p.ADKIM},
		{"aspf", p.ASPF}, {"testing", p.Testing}, {"discovery_method", p.Discovery},
	} {
		if strings.TrimSpace(f.v) == "" {
			l.add("policy_published/%s missing (defaults are to be filled in)", f.name)
		}
	}
}

// domain checks a lower-case A-label name without trailing dot.
func (l *linter) domain(what, d string) {
	n, err := dmarc.NormalizeDomain(d)
	if err != nil {
		l.add("%s %q: %v", what, d, err)
	} else if n != d {
		l.add("%s %q: want %q", what, d, n)
	}
}

func (l *linter) record(i int, r *xRecord, p *xPolicy) {
	if n, err := strconv.ParseInt(strings.TrimSpace(r.Count), 10, 64); err != nil || n < 1 {
		l.add("record %d: count %q: want a positive integer", i, r.Count)
	}
	// §3.1.1.7: an IPv4address or IPv6address (RFC 3986 §3.2.2), no zone.
	if a, err := netip.ParseAddr(r.SourceIP); err != nil || a.Zone() != "" {
		l.add("record %d: source_ip %q: not an IP address", i, r.SourceIP)
	}
	l.domain(fmt.Sprintf("record %d: header_from", i), r.HeaderFrom)
	l.dkim(i, r.AuthDKIM)
	if len(r.AuthSPF) > 1 { // §3.1.1.13: at most one
		l.add("record %d: %d spf results", i, len(r.AuthSPF))
	}
	for _, s := range r.AuthSPF {
		if s.Scope != "" && s.Scope != "mfrom" {
			l.add("record %d: spf scope %q", i, s.Scope)
		}
	}
	l.reasons(i, r, p)
	for _, x := range r.Extra { // §5: extensions must be namespaced
		if x.XMLName.Space == "" || x.XMLName.Space == Namespace {
			l.add("record %d: element %q after auth_results is not an extension", i, x.XMLName.Local)
		}
	}
}

// dkim checks the DKIM results: non-empty selector (§3.1.1.12), at most
// 100, passes before the rest (§3.1.3).
func (l *linter) dkim(i int, ds []xDKIM) {
	if len(ds) > MaxDKIM {
		l.add("record %d: %d dkim results, at most %d", i, len(ds), MaxDKIM)
	}
	failed := false
	for _, d := range ds {
		if strings.TrimSpace(d.Selector) == "" {
			l.add("record %d: dkim %q without selector", i, d.Domain)
		}
		if strings.TrimSpace(d.Domain) == "" {
			l.add("record %d: dkim without domain", i)
		}
		if d.Result != "pass" {
			failed = true
		} else if failed {
			l.add("record %d: dkim pass for %q after a non-pass result", i, d.Domain)
		}
	}
}

// reasons checks §3.1.1.9: a reason is required when alignment failed and
// the disposition differs from the published policy; policy_test_mode
// only under t=y.
func (l *linter) reasons(i int, r *xRecord, p *xPolicy) {
	for _, x := range r.Reasons {
		if !ReasonType(x.Type).Valid() { // forwarded, sampled_out: RFC 7489 only
			l.add("record %d: reason type %q", i, x.Type)
		}
		if x.Type == string(ReasonPolicyTestMode) && p.Testing != "y" {
			l.add("record %d: policy_test_mode without testing=y", i)
		}
	}
	if len(r.Reasons) > 0 || r.DKIM == "pass" || r.SPF == "pass" {
		return
	}
	if !fitsPolicy(p.Domain, p.P, p.SP, p.NP, r.HeaderFrom, Disposition(r.Disposition)) {
		l.add("record %d: disposition %q differs from the policy without a reason", i, r.Disposition)
	}
}

// key is the record's tuple for the uniqueness check.
func (r *xRecord) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%s|%s|%s|%s", r.SourceIP, r.Disposition, r.DKIM, r.SPF, r.HeaderFrom, r.EnvFrom, r.EnvTo)
	for _, x := range r.Reasons {
		fmt.Fprintf(&b, "|r:%s:%s", x.Type, x.Comment)
	}
	for _, d := range r.AuthDKIM {
		fmt.Fprintf(&b, "|d:%s:%s:%s", d.Domain, d.Selector, d.Result)
	}
	for _, s := range r.AuthSPF {
		fmt.Fprintf(&b, "|s:%s:%s:%s", s.Domain, s.Scope, s.Result)
	}
	return b.String()
}
