package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/mime"
	"github.com/authmilter/authmilter/auth/policy"
)

// checkMessage is "authmilter check message": it evaluates a message read
// from FILE or stdin with exactly the code the daemon runs (auth.Evaluator
// fed field by field), and prints the results, the decision and the header.
// Exit status 0 when evaluated (whatever the result), 1 when the message
// could not be read, 2 on usage errors (an empty message included).
func checkMessage(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newCheckFlags("authmilter check message",
		"authmilter check message -ip IP -helo NAME -mail-from ADDR [-dns HOST:PORT] [-dns-timeout DUR] [-config FILE] [-tls VERSION|none [-tls-cipher C] [-tls-bits N] [-tls-cert STATE ...]] [-requiretls] [-json] [FILE]  (no FILE or -: stdin)", stderr)
	f.takesFile = true
	ef := f.addEnvelope()
	tf := addTLSFlags(f.fs)
	config := f.fs.String("config", "", "configuration `file` whose evaluation settings apply (policy, limits, authserv_id, dns, tls, smime, openpgp)")
	if code, ok := f.parse(args); !ok {
		return code
	}
	ip, code := ef.check(f)
	if code != 0 {
		return code
	}
	tls, code := tf.check(f)
	if code != 0 {
		return code
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		return f.usageError("configuration: %v", err)
	}
	f.apply(&cfg.DNS)
	_, ev, err := build(cfg, nil, nil, nil)
	if err != nil {
		fmt.Fprintln(stderr, "authmilter check message:", err)
		return 2
	}
	msg, done, code := f.input(stdin)
	if code != 0 {
		return code
	}
	defer done()
	env := auth.Envelope{ClientIP: ip, Helo: ef.helo, MailFrom: strings.Trim(ef.mailFrom, "<>"), TLS: tls, RequireTLS: tf.requireTLS}
	r, err := ev.EvaluateReader(context.Background(), env, msg)
	if err != nil {
		fmt.Fprintln(stderr, "authmilter check message:", err)
		return 1
	}
	if f.json {
		return f.writeJSON(stdout, messageJSONOf(ev, r))
	}
	printReport(stdout, ev, r)
	return 0
}

// messageJSON is the -json output: a public interface, keep field names.
type messageJSON struct {
	Skipped               string      `json:"skipped,omitempty"`
	SPF                   spfOutJSON  `json:"spf"`
	HELO                  spfOutJSON  `json:"helo"`
	DKIM                  []dkimJSON  `json:"dkim"`
	DMARC                 dmarcJSON   `json:"dmarc"`
	ARC                   arcJSON     `json:"arc"`
	Action                string      `json:"action"`
	SMTPCode              string      `json:"smtp_code"`
	SMTPEnhanced          string      `json:"smtp_enhanced_code,omitempty"`
	SMTPText              string      `json:"smtp_text,omitempty"`
	Reason                string      `json:"reason,omitempty"`
	Quarantine            string      `json:"quarantine,omitempty"`
	DryRun                *dryRunJSON `json:"dry_run,omitempty"`
	AuthenticationResults string      `json:"authentication_results"`
	RemovedForged         []int       `json:"removed_forged_indices"`
	// S/MIME and OpenPGP signatures, and their Authentication-Results
	// fields (check_signatures.go).
	SMIME                []signatureJSON `json:"smime"`
	OpenPGP              []signatureJSON `json:"openpgp"`
	SignatureAuthResults []string        `json:"signature_authentication_results,omitempty"`
	Problem              string          `json:"problem,omitempty"`
	ElapsedMS            float64         `json:"elapsed_ms"`
	Envelope             envelopeJSON    `json:"envelope"`
	TLS                  *tlsJSON        `json:"tls,omitempty"`
}

// dryRunJSON is what would have been done under policy.dry_run; the
// top-level action and reply are what was done (accept, 250).
type dryRunJSON struct {
	Action       string `json:"action"`
	SMTPCode     string `json:"smtp_code,omitempty"`
	SMTPEnhanced string `json:"smtp_enhanced_code,omitempty"`
	SMTPText     string `json:"smtp_text,omitempty"`
}

type envelopeJSON struct {
	IP       string `json:"ip"`
	Helo     string `json:"helo"`
	MailFrom string `json:"mail_from"`
}

type spfOutJSON struct {
	Result      string `json:"result"`
	Domain      string `json:"domain"`
	Identity    string `json:"identity"`
	Explanation string `json:"explanation"`
	Reason      string `json:"reason"`
}

type dkimJSON struct {
	Result     string `json:"result"`
	Domain     string `json:"domain"`
	Selector   string `json:"selector"`
	Algorithm  string `json:"algorithm"`
	Identifier string `json:"identifier"`
	KeyBits    int    `json:"key_bits"`
	HeaderB    string `json:"header_b"`
	Reason     string `json:"reason"`
}

type dmarcJSON struct {
	Result          string   `json:"result"`
	Policy          string   `json:"policy"`
	PublishedPolicy string   `json:"published_policy"`
	Testing         bool     `json:"testing"`
	Domain          string   `json:"domain"`
	OrgDomain       string   `json:"organizational_domain"`
	RecordDomain    string   `json:"record_domain"`
	Record          string   `json:"record"`
	SPFAligned      bool     `json:"spf_aligned"`
	DKIMAligned     bool     `json:"dkim_aligned"`
	Reason          string   `json:"reason"`
	Authors         []string `json:"author_domains"`
	FromError       string   `json:"from_error,omitempty"`
	// PerDomain is each author domain's result, in From order (the fields
	// above are the strictest one's); empty when DMARC was not evaluated.
	PerDomain []dmarcDomainJSON `json:"per_domain"`
}

type dmarcDomainJSON struct {
	Domain          string `json:"domain"`
	Result          string `json:"result"`
	Policy          string `json:"policy"`
	PublishedPolicy string `json:"published_policy"`
	Testing         bool   `json:"testing"`
	OrgDomain       string `json:"organizational_domain"`
	RecordDomain    string `json:"record_domain"`
	Record          string `json:"record"`
	SPFAligned      bool   `json:"spf_aligned"`
	DKIMAligned     bool   `json:"dkim_aligned"`
	Reason          string `json:"reason"`
}

func dmarcDomainsJSON(rs []dmarc.Result) []dmarcDomainJSON {
	out := make([]dmarcDomainJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, dmarcDomainJSON{
			Domain: r.Domain, Result: string(r.Result), Policy: r.Policy, PublishedPolicy: r.PublishedPolicy,
			Testing: r.Testing, OrgDomain: r.OrgDomain, RecordDomain: r.RecordDomain, Record: r.Record,
			SPFAligned: r.SPFAligned, DKIMAligned: r.DKIMAligned, Reason: r.Reason,
		})
	}
	return out
}

func dkimJSONOf(rs []dkim.Result) []dkimJSON {
	out := make([]dkimJSON, 0, len(rs))
	for _, d := range rs {
		out = append(out, dkimJSON{
			Result: string(d.Result), Domain: d.Domain, Selector: d.Selector, Algorithm: d.Algorithm,
			Identifier: d.Identifier, KeyBits: d.KeyBits, HeaderB: d.HeaderB, Reason: d.Reason,
		})
	}
	return out
}

func messageJSONOf(ev *auth.Evaluator, r *auth.Report) messageJSON {
	d := r.Decision
	var dry *dryRunJSON
	if d.DryRun {
		// Code, Enhanced and Text are the would-be reply; the message
		// was accepted.
		dry = &dryRunJSON{Action: string(cmp.Or(d.WouldBe, policy.Accept))}
		if d.WouldBe == policy.Reject || d.WouldBe == policy.Tempfail {
			dry.SMTPCode, dry.SMTPEnhanced, dry.SMTPText = d.Code, d.Enhanced, d.Text
		}
		d.Code, d.Enhanced, d.Text = "", "", ""
	}
	code := d.Code
	if code == "" {
		code = "250"
	}
	forged := r.Forged
	if forged == nil {
		forged = []int{}
	}
	return messageJSON{
		Skipped: r.Skipped,
		SPF:     spfOutJSON{string(r.SPF.Result), r.SPF.Domain, string(r.SPF.Identity), r.SPF.Explanation, r.SPF.Reason},
		HELO:    spfOutJSON{string(r.HELO.Result), r.HELO.Domain, string(r.HELO.Identity), r.HELO.Explanation, r.HELO.Reason},
		DKIM:    dkimJSONOf(r.DKIM),
		DMARC: dmarcJSON{
			Result: string(r.DMARC.Result), Policy: r.DMARC.Policy, PublishedPolicy: r.DMARC.PublishedPolicy,
			Testing: r.DMARC.Testing, Domain: r.DMARC.Domain, OrgDomain: r.DMARC.OrgDomain,
			RecordDomain: r.DMARC.RecordDomain, Record: r.DMARC.Record, SPFAligned: r.DMARC.SPFAligned,
			DKIMAligned: r.DMARC.DKIMAligned, Reason: r.DMARC.Reason, Authors: r.Authors, FromError: string(r.FromError),
			PerDomain: dmarcDomainsJSON(r.PerAuthor),
		},
		ARC:                   arcJSONOf(r.ARC),
		Action:                string(d.Action),
		SMTPCode:              code,
		SMTPEnhanced:          d.Enhanced,
		SMTPText:              d.Text,
		Reason:                d.Reason,
		Quarantine:            string(d.Quarantine),
		DryRun:                dry,
		AuthenticationResults: headerLine(r.Header),
		RemovedForged:         forged,
		SMIME:                 signaturesJSON(r.Signatures, mime.MethodSMIME),
		OpenPGP:               signaturesJSON(r.Signatures, mime.MethodOpenPGP),
		SignatureAuthResults:  headerLines(r.SignatureHeaders),
		Problem:               r.Problem,
		ElapsedMS:             float64(r.Elapsed.Microseconds()) / 1000,
		Envelope:              envelopeJSON{ipStr(r.Envelope.ClientIP), r.Envelope.Helo, r.Envelope.MailFrom},
		TLS:                   tlsJSONOf(r),
	}
}

// headerLine is the header field as it would be inserted, LF folds.
func headerLine(v string) string {
	if v == "" {
		return ""
	}
	return "Authentication-Results: " + strings.ReplaceAll(v, "\r\n", "\n")
}

func ipStr(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}

func printReport(w io.Writer, ev *auth.Evaluator, r *auth.Report) {
	j := messageJSONOf(ev, r)
	if r.Skipped != "" {
		fmt.Fprintf(w, "not evaluated: %s\naction: %s\n", r.Skipped, j.Action)
		return
	}
	fmt.Fprintf(w, "spf:   %s (smtp.mailfrom=%s; %s)\n", j.SPF.Result, j.SPF.Domain, j.SPF.Reason)
	fmt.Fprintf(w, "helo:  %s (smtp.helo=%s; %s)\n", j.HELO.Result, j.HELO.Domain, j.HELO.Reason)
	if len(j.DKIM) == 0 {
		fmt.Fprintln(w, "dkim:  none (no signature)")
	}
	for _, d := range j.DKIM {
		fmt.Fprintf(w, "dkim:  %s (d=%s s=%s a=%s bits=%d%s)\n", d.Result, d.Domain, d.Selector, d.Algorithm, d.KeyBits, prefixed("; ", d.Reason))
	}
	fmt.Fprintf(w, "dmarc: %s (header.from=%s policy=%s org=%s record at %s%s)\n", j.DMARC.Result, j.DMARC.Domain,
		orNone(j.DMARC.Policy), orNone(j.DMARC.OrgDomain), orNone(j.DMARC.RecordDomain), prefixed("; ", j.DMARC.Reason))
	if j.DMARC.Record != "" {
		fmt.Fprintf(w, "       record: %s\n", j.DMARC.Record)
	}
	if j.ARC.Result != "none" {
		fmt.Fprintf(w, "arc:   %s (instances=%d oldest-pass=%d%s)\n", j.ARC.Result, j.ARC.Instances, j.ARC.OldestPass, prefixed("; ", j.ARC.Reason))
	}
	if len(j.DMARC.PerDomain) > 1 {
		for _, d := range j.DMARC.PerDomain {
			fmt.Fprintf(w, "       %s: %s (policy=%s%s)\n", d.Domain, d.Result, orNone(d.Policy), prefixed("; ", d.Reason))
		}
	}
	printSignatures(w, j)
	if t := j.TLS; t != nil {
		fmt.Fprintf(w, "tls:   %s%s%s%s\n", t.Version, prefixed(" ", t.Cipher), prefixed(" client certificate ", t.ClientCert),
			prefixed(" ", t.CertSubject))
		if t.Require != nil {
			fmt.Fprintf(w, "       tls.require %s: %s (%s%s)\n", t.Require.Domain, t.Require.Status, t.Require.Want, prefixed("; ", t.Require.Shortfall))
		}
	}
	fmt.Fprintf(w, "action: %s", j.Action)
	if j.Action != "accept" {
		fmt.Fprintf(w, " (%s %s %s)", j.SMTPCode, j.SMTPEnhanced, j.SMTPText)
	}
	fmt.Fprintf(w, "%s\n", prefixed("; ", j.Reason))
	if j.DryRun != nil {
		fmt.Fprintf(w, "dry run, would have been: %s", j.DryRun.Action)
		if j.DryRun.SMTPCode != "" {
			fmt.Fprintf(w, " (%s %s %s)", j.DryRun.SMTPCode, j.DryRun.SMTPEnhanced, j.DryRun.SMTPText)
		}
		fmt.Fprintln(w)
	}
	if j.Problem != "" {
		fmt.Fprintf(w, "problem: %s\n", j.Problem)
	}
	if len(j.RemovedForged) > 0 {
		fmt.Fprintf(w, "forged Authentication-Results removed: %v\n", j.RemovedForged)
	}
	fmt.Fprintf(w, "%s\n", j.AuthenticationResults)
	for _, h := range j.SignatureAuthResults {
		fmt.Fprintf(w, "%s\n", h)
	}
	fmt.Fprintf(w, "(%.1f ms)\n", float64(r.Elapsed)/float64(time.Millisecond))
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
