package report

import (
	"bytes"
	"encoding/xml"
	"strconv"
)

// maxError bounds report_metadata/error (one element since RFC 9990,
// §3.1.1.2).
const maxError = 1024

// xw writes indented XML with one space per level, as the RFC's examples.
type xw struct {
	b     bytes.Buffer
	depth int
}

func (w *xw) indent() {
	for i := 0; i < w.depth; i++ {
		w.b.WriteByte(' ')
	}
}

func (w *xw) open(name string) {
	w.indent()
	w.b.WriteString("<" + name + ">\n")
	w.depth++
}

func (w *xw) close(name string) {
	w.depth--
	w.indent()
	w.b.WriteString("</" + name + ">\n")
}

// leaf writes <name>text</name>, escaping text; invalid XML characters
// become U+FFFD.
func (w *xw) leaf(name, text string) {
	w.indent()
	w.b.WriteString("<" + name + ">")
	_ = xml.EscapeText(&w.b, []byte(text))
	w.b.WriteString("</" + name + ">\n")
}

// XML returns the report as RFC 9990 XML (§3.1.1, Appendix A). The bytes
// depend only on the report, so a rebuild gives the same file.
func (r Report) XML() []byte {
	w := &xw{}
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.b.WriteString(`<feedback xmlns="` + Namespace + `">` + "\n")
	w.depth = 1
	w.leaf("version", "1.0")
	r.writeMetadata(w)
	r.Policy.write(w)
	for _, row := range r.Rows {
		row.write(w, r.Meta.LegacyPass)
	}
	w.b.WriteString("</feedback>\n")
	return w.b.Bytes()
}

// writeMetadata writes report_metadata (§3.1.1.2).
func (r Report) writeMetadata(w *xw) {
	w.open("report_metadata")
	w.leaf("org_name", r.Meta.OrgName)
	w.leaf("email", r.Meta.Email)
	if r.Meta.ExtraContact != "" {
		w.leaf("extra_contact_info", r.Meta.ExtraContact)
	}
	w.leaf("report_id", r.ID)
	w.open("date_range") // §3.1.1.4
	w.leaf("begin", strconv.FormatInt(r.Period.Begin, 10))
	w.leaf("end", strconv.FormatInt(r.Period.End, 10))
	w.close("date_range")
	if r.Error != "" {
		w.leaf("error", truncate(r.Error, maxError))
	}
	if r.Meta.Generator != "" {
		w.leaf("generator", r.Meta.Generator)
	}
	w.close("report_metadata")
}

// write writes policy_published (§3.1.1.6) with every value in effect.
func (p Policy) write(w *xw) {
	w.open("policy_published")
	w.leaf("domain", p.Domain)
	if p.Discovery != "" {
		w.leaf("discovery_method", p.Discovery)
	}
	w.leaf("p", p.P)
	leafIf(w, "sp", p.SP)
	leafIf(w, "np", p.NP)
	leafIf(w, "fo", p.FO)
	leafIf(w, "adkim", p.ADKIM)
	leafIf(w, "aspf", p.ASPF)
	t := "n"
	if p.Testing {
		t = "y"
	}
	w.leaf("testing", t)
	w.close("policy_published")
}

func leafIf(w *xw, name, v string) {
	if v != "" {
		w.leaf(name, v)
	}
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "fail"
}

// write writes one record (§3.1.1.8): row, identifiers, auth_results.
func (r Row) write(w *xw, legacyPass bool) {
	w.open("record")
	w.open("row")
	w.leaf("source_ip", r.SourceIP.String())
	w.leaf("count", strconv.FormatInt(r.Count, 10))
	w.open("policy_evaluated") // §3.1.1.9: a sequence
	d := r.Disposition
	if legacyPass && d == DispositionPass {
		d = DispositionNone
	}
	w.leaf("disposition", string(d))
	w.leaf("dkim", passFail(r.DKIMAligned))
	w.leaf("spf", passFail(r.SPFAligned))
	for _, x := range r.Reasons {
		w.open("reason")
		w.leaf("type", string(x.Type))
		leafIf(w, "comment", x.Comment)
		w.close("reason")
	}
	w.close("policy_evaluated")
	w.close("row")
	w.open("identifiers") // §3.1.1.10
	w.leaf("header_from", r.HeaderFrom)
	w.leaf("envelope_from", r.EnvelopeFrom) // empty for the null reverse-path
	leafIf(w, "envelope_to", r.EnvelopeTo)
	w.close("identifiers")
	r.writeAuth(w)
	w.close("record")
}

// writeAuth writes auth_results (§3.1.1.11): the DKIM results in the
// order of §3.1.3, then at most one SPF result, scope mfrom (§3.1.1.13).
func (r Row) writeAuth(w *xw) {
	w.open("auth_results")
	for _, d := range r.DKIM {
		w.open("dkim")
		w.leaf("domain", d.Domain)
		w.leaf("selector", d.Selector)
		w.leaf("result", d.Result)
		leafIf(w, "human_result", d.Human)
		w.close("dkim")
	}
	if r.SPF.Domain != "" {
		w.open("spf")
		w.leaf("domain", r.SPF.Domain)
		w.leaf("scope", "mfrom")
		w.leaf("result", r.SPF.Result)
		leafIf(w, "human_result", r.SPF.Human)
		w.close("spf")
	}
	w.close("auth_results")
}

// truncate cuts s to at most n bytes at a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
