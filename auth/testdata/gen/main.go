// Command gen writes the golden cases of package auth: for each case,
// NN-name.eml (the message as received, DKIM-signed where the case says so)
// and NN-name.zone (the DNS zone served by dnstest, with the envelope and
// fault directives as ";;" comment lines). The .want files are written by
// the test: go test ./auth/ -run TestGolden -update.
//
// Run from the repository root: go run ./auth/testdata/gen [NAME...]
// With names, only those cases are written (the others keep their
// signatures, and so their .want files).
//
// Signing uses a fixed Ed25519 key (RFC 8463) derived from a constant, so
// the public key in the zones never changes; the signatures carry t= and so
// change on every run.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

type msgCase struct {
	name    string
	headers []string // header lines before the common ones; "From: ..." included unless noFrom
	body    string
	sign    string // d= to sign with, "" for none
	mutate  func(msg string) string
	// Envelope and DNS.
	ip, helo, mailFrom string
	zone               []string
	servfail           []string
	allow              []string // policy.allow_domains
}

var key = ed25519.NewKeyFromSeed(seed())

func seed() []byte {
	s := sha256.Sum256([]byte("authmilter golden test key"))
	return s[:]
}

// dkimKey is the key record for d= under selector "sel".
func dkimKey(d string) string {
	pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	return fmt.Sprintf(`sel._domainkey.%s. 300 IN TXT "v=DKIM1; k=ed25519; p=%s"`, d, pub)
}

func dmarcRR(name, rec string) string {
	return fmt.Sprintf(`_dmarc.%s. 300 IN TXT "%s"`, name, rec)
}

func spfRR(name, rec string) string {
	return fmt.Sprintf(`%s. 300 IN TXT "%s"`, name, rec)
}

func a(name string) string { return name + ". 300 IN A 192.0.2.99" }

const (
	ipSender    = "192.0.2.10"
	ipForwarder = "198.51.100.20"
	ipList      = "203.0.113.30"
	spfExample  = "v=spf1 ip4:192.0.2.0/24 -all"
)

// base is in every zone: example.com's SPF, its DKIM key and its A record.
var base = []string{
	spfRR("example.com", spfExample),
	dkimKey("example.com"),
	"example.com. 300 IN A 192.0.2.99",
	"mail.example.com. 300 IN A 192.0.2.10",
}

func from(addr string) []string { return []string{"From: " + addr} }

var cases = []msgCase{
	{name: "01-spf-pass-aligned", headers: from("Alice <alice@example.com>"),
		mailFrom: "alice@example.com", zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject")}},
	{name: "02-dkim-pass-aligned", headers: from("Alice <alice@example.com>"), sign: "example.com",
		mailFrom: "bounce-123@esp.example.net",
		zone:     []string{dmarcRR("example.com", "v=DMARC1; p=reject"), spfRR("esp.example.net", spfExample)}},
	{name: "03-no-dmarc-record", headers: from("news@example.org"), sign: "example.org",
		mailFrom: "news@example.org", zone: []string{dkimKey("example.org"), a("example.org")}},
	{name: "04-fail-reject", headers: from("CEO <ceo@example.com>"),
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "05-fail-quarantine", headers: from("CEO <ceo@example.com>"),
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=quarantine"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "06-fail-none", headers: from("CEO <ceo@example.com>"),
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=none"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	// RFC 9989 §4.10.2, first example: records at mail.example.com and
	// example.com; the Org Domain is example.com and its record applies.
	{name: "07-treewalk-org-record", headers: from("a@a.mail.example.com"), sign: "example.com",
		mailFrom: "a@a.mail.example.com", zone: []string{a("a.mail.example.com"),
			dmarcRR("mail.example.com", "v=DMARC1; p=none"),
			dmarcRR("example.com", "v=DMARC1; p=none; sp=reject")}},
	// Second example: psd=n at mail.example.com makes it the Org Domain.
	{name: "08-treewalk-psd-n", headers: from("a@a.mail.example.com"), sign: "example.com",
		mailFrom: "a@a.mail.example.com", zone: []string{a("a.mail.example.com"),
			dmarcRR("mail.example.com", "v=DMARC1; p=quarantine; psd=n"),
			dmarcRR("example.com", "v=DMARC1; p=reject")}},
	// Third example: only com, with psd=y: the Org Domain is example.com
	// and the PSD's record applies.
	{name: "09-treewalk-psd-y-tld", headers: from("a@a.mail.example.com"), sign: "mail.example.com",
		mailFrom: "a@a.mail.example.com", zone: []string{a("a.mail.example.com"), dkimKey("mail.example.com"),
			dmarcRR("com", "v=DMARC1; psd=y; p=reject")}},
	{name: "10-psd-y-tld-fail", headers: from("Benefits <benefits@agency.gov>"),
		mailFrom: "bounce@other.gov", zone: []string{a("agency.gov"), spfRR("other.gov", spfExample),
			dmarcRR("gov", "v=DMARC1; psd=y; p=reject")}},
	{name: "11-np-nonexistent-subdomain", headers: from("billing@ghost.example.com"),
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=none; np=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "12-sp-existing-subdomain", headers: from("orders@shop.example.com"),
		mailFrom: "x@attacker.example", zone: []string{a("shop.example.com"),
			dmarcRR("example.com", "v=DMARC1; p=none; sp=quarantine; np=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "13-p-for-author-domain", headers: from("orders@example.com"),
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=none; sp=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "14-testing-t-y", headers: from("alice@example.com"),
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject; t=y"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "15-legacy-pct-0", headers: from("alice@example.com"),
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject; pct=0"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "16-legacy-pct-50", headers: from("alice@example.com"),
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject; pct=50"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "17-spf-strict", headers: from("alice@example.com"),
		mailFrom: "bounce@bounces.example.com", zone: []string{spfRR("bounces.example.com", spfExample),
			dmarcRR("example.com", "v=DMARC1; p=reject; aspf=s")}},
	{name: "18-spf-relaxed", headers: from("alice@example.com"),
		mailFrom: "bounce@bounces.example.com", zone: []string{spfRR("bounces.example.com", spfExample),
			dmarcRR("example.com", "v=DMARC1; p=reject")}},
	{name: "19-dkim-strict", headers: from("news@news.example.com"), sign: "example.com",
		mailFrom: "bounce@esp.example.net", zone: []string{a("news.example.com"), spfRR("esp.example.net", spfExample),
			dmarcRR("example.com", "v=DMARC1; p=reject; adkim=s")}},
	{name: "20-dkim-relaxed", headers: from("news@news.example.com"), sign: "example.com",
		mailFrom: "bounce@esp.example.net", zone: []string{a("news.example.com"), spfRR("esp.example.net", spfExample),
			dmarcRR("example.com", "v=DMARC1; p=reject")}},
	// Forwarded: the forwarder is not in example.com's SPF, DKIM survives.
	{name: "21-forwarded-spf-fail-dkim-pass", headers: from("alice@example.com"), sign: "example.com",
		ip: ipForwarder, helo: "forwarder.example.net", mailFrom: "alice@example.com",
		zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject")}},
	// A mailing list rewrites the subject and adds a footer: DKIM breaks,
	// SPF passes for the list's domain (not aligned), List-Id is present,
	// so p=reject ends as quarantine (RFC 9989 §7.4).
	{name: "22-mailing-list-breaks-dkim", headers: from("alice@example.com"), sign: "example.com",
		ip: ipList, helo: "lists.example.org", mailFrom: "users-bounces@lists.example.org",
		zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject"),
			spfRR("lists.example.org", "v=spf1 ip4:203.0.113.30 -all")},
		mutate: func(m string) string {
			m = strings.Replace(m, "Subject: ", "List-Id: Users <users.lists.example.org>\r\nSubject: [users] ", 1)
			return m + "-- \r\nusers mailing list\r\n"
		}},
	{name: "23-several-from-domains", headers: from("a@one.example, b@two.example"), sign: "one.example",
		mailFrom: "a@one.example", zone: []string{dkimKey("one.example"), a("one.example"), a("two.example"),
			dmarcRR("one.example", "v=DMARC1; p=none"), dmarcRR("two.example", "v=DMARC1; p=reject")}},
	{name: "24-no-from", headers: nil, mailFrom: "alice@example.com",
		zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject")}},
	{name: "25-two-from-fields", headers: []string{"From: alice@example.com", "From: mallory@attacker.example"},
		mailFrom: "alice@example.com", zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject")}},
	{name: "26-idn-author", headers: from("Jörg <info@bücher.example>"), sign: "xn--bcher-kva.example",
		mailFrom: "info@xn--bcher-kva.example", zone: []string{dkimKey("xn--bcher-kva.example"),
			a("xn--bcher-kva.example"), dmarcRR("xn--bcher-kva.example", "v=DMARC1; p=reject")}},
	{name: "27-temperror-author-query", headers: from("alice@example.com"),
		mailFrom: "alice@example.com", zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject")},
		servfail: []string{"_dmarc.example.com."}},
	{name: "28-temperror-org-query", headers: from("alice@sub.example.com"),
		mailFrom: "x@attacker.example", zone: []string{a("sub.example.com"), dmarcRR("example.com", "v=DMARC1; p=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")},
		servfail: []string{"_dmarc.example.com."}},
	{name: "29-temperror-tld-query", headers: from("alice@sub.example.com"),
		mailFrom: "x@attacker.example", zone: []string{a("sub.example.com"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")},
		servfail: []string{"_dmarc.com."}},
	// The author's record is found, but the DKIM identifier's own walk
	// fails: relaxed alignment cannot be decided.
	{name: "30-temperror-dkim-identifier-walk", headers: from("alice@example.com"), sign: "mail.example.com",
		mailFrom: "x@attacker.example", zone: []string{dkimKey("mail.example.com"),
			dmarcRR("example.com", "v=DMARC1; p=reject"), spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")},
		servfail: []string{"_dmarc.mail.example.com."}},
	// Same failure, but SPF aligns exactly: the pass stands.
	{name: "31-temperror-pass-stands", headers: from("alice@example.com"), sign: "mail.example.com",
		mailFrom: "alice@example.com", zone: []string{dkimKey("mail.example.com"),
			dmarcRR("example.com", "v=DMARC1; p=reject")},
		servfail: []string{"_dmarc.mail.example.com."}},
	{name: "32-record-v-dmarc10", headers: from("alice@example.com"),
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC10; p=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "33-multiple-records-discarded", headers: from("alice@sub.example.com"),
		mailFrom: "x@attacker.example", zone: []string{a("sub.example.com"),
			dmarcRR("sub.example.com", "v=DMARC1; p=none"),
			dmarcRR("sub.example.com", "v=DMARC1; p=none; rua=mailto:d@example.com"),
			dmarcRR("example.com", "v=DMARC1; p=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "34-invalid-p-with-rua", headers: from("alice@example.com"),
		mailFrom: "x@attacker.example", zone: []string{
			dmarcRR("example.com", "v=DMARC1; p=rejet; rua=mailto:dmarc@example.com"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "35-invalid-p-no-rua", headers: from("alice@example.com"),
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=rejet"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	// Authentication-Results fields already present: the first carries our
	// authserv-id (in another case, after a comment holding ";"): forged.
	{name: "36-forged-authentication-results", headers: []string{
		"Authentication-Results: (relay; checked) MX.Test.Example;\r\n\tdmarc=pass header.from=example.com",
		"Authentication-Results: other.example; spf=pass smtp.mailfrom=example.com",
		"From: alice@example.com"},
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=quarantine"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	// Null MAIL FROM: SPF checks postmaster@HELO, which DMARC uses.
	{name: "37-null-sender-helo", headers: from("MAILER-DAEMON@example.com"),
		helo: "mail.example.com", mailFrom: "<>",
		zone: []string{spfRR("mail.example.com", "v=spf1 ip4:192.0.2.10 -all"),
			dmarcRR("example.com", "v=DMARC1; p=reject")}},
	{name: "38-malformed-from", headers: from("Alice <alice>"), mailFrom: "alice@example.com",
		zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject")}},
	// 13 labels: the walk queries 13, 7, 6, 5, 4, 3, 2, 1 labels; the record
	// at the 7-label name is intermediate and not used.
	{name: "39-long-name-shortcut", headers: from("x@a.b.c.d.e.f.g.h.i.j.mail.example.com"),
		mailFrom: "x@attacker.example", zone: []string{
			dmarcRR("g.h.i.j.mail.example.com", "v=DMARC1; p=none"),
			dmarcRR("example.com", "v=DMARC1; p=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	{name: "40-from-display-name-comment", headers: from(`"Doe, John" (CEO; Example) <john@Example.COM>`),
		sign: "example.com", mailFrom: "bounce@esp.example.net",
		zone: []string{spfRR("esp.example.net", spfExample), dmarcRR("example.com", "v=DMARC1; p=reject")}},
	{name: "41-split-txt-record", headers: from("alice@example.com"),
		mailFrom: "x@attacker.example", zone: []string{
			`_dmarc.example.com. 300 IN TXT "v=DMARC1; p=qua" "rantine"`,
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	// Several author domains: every one counts. allowed.example is
	// allow-listed and exempts only itself; bank.example's reject decides.
	{name: "42-several-from-allow-listed-beside-reject", headers: from("x@allowed.example, CEO <ceo@bank.example>"),
		mailFrom: "x@attacker.example", allow: []string{"allowed.example"},
		zone: []string{a("allowed.example"), a("bank.example"),
			dmarcRR("allowed.example", "v=DMARC1; p=reject"), dmarcRR("bank.example", "v=DMARC1; p=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	// The same with the group syntax (RFC 5322 §3.4).
	{name: "43-group-from-allow-listed-beside-reject", headers: from("Friends: x@allowed.example, ceo@bank.example;"),
		mailFrom: "x@attacker.example", allow: []string{"allowed.example"},
		zone: []string{a("allowed.example"), a("bank.example"),
			dmarcRR("allowed.example", "v=DMARC1; p=reject"), dmarcRR("bank.example", "v=DMARC1; p=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")}},
	// SERVFAIL on the author domain's own SPF record: the only identifier
	// that could align failed transiently: temperror (451), not fail (550).
	{name: "44-spf-servfail-aligned-domain", headers: from("alice@example.com"),
		mailFrom: "alice@example.com", zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject")},
		servfail: []string{"example.com."}},
	// SERVFAIL on the key of an aligned DKIM signature; SPF passes for an
	// unaligned domain: temperror.
	{name: "45-dkim-key-servfail-aligned", headers: from("alice@example.com"), sign: "example.com",
		mailFrom: "bounce@esp.example.net", zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject"),
			spfRR("esp.example.net", spfExample)},
		servfail: []string{"sel._domainkey.example.com."}},
	// An unaligned temperror (attacker.example's DKIM key) beside an
	// unaligned SPF pass: nothing aligned could pass: fail, 550.
	{name: "46-unaligned-temperror-beside-fail", headers: from("CEO <ceo@example.com>"), sign: "attacker.example",
		mailFrom: "x@attacker.example", zone: []string{dmarcRR("example.com", "v=DMARC1; p=reject"),
			spfRR("attacker.example", "v=spf1 ip4:192.0.2.10 -all")},
		servfail: []string{"sel._domainkey.attacker.example."}},
	// An aligned temperror under p=none: pass or fail, the mail is
	// accepted (RFC 9989 §5.4), so it is not tempfailed.
	{name: "47-aligned-temperror-policy-none", headers: from("alice@example.com"),
		mailFrom: "alice@example.com", zone: []string{dmarcRR("example.com", "v=DMARC1; p=none")},
		servfail: []string{"example.com."}},
}

func main() {
	dir := "auth/testdata"
	if _, err := os.Stat(dir); err != nil {
		log.Fatalf("run from the repository root: %v", err)
	}
	only := map[string]bool{}
	for _, n := range os.Args[1:] {
		only[n] = true
	}
	for _, c := range cases {
		if len(only) > 0 && !only[c.name] {
			continue
		}
		msg, err := message(c)
		if err != nil {
			log.Fatalf("%s: %v", c.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.name+".eml"), []byte(msg), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.name+".zone"), []byte(zone(c)), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func message(c msgCase) (string, error) {
	var b strings.Builder
	for _, h := range c.headers {
		b.WriteString(h + "\r\n")
	}
	n := c.name[:2]
	b.WriteString("To: bob@example.net\r\n")
	b.WriteString("Subject: golden case " + c.name + "\r\n")
	b.WriteString("Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n")
	b.WriteString("Message-ID: <golden-" + n + "@example.com>\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("\r\n")
	body := c.body
	if body == "" {
		body = "Hello Bob,\r\n\r\nthis is golden case " + c.name + ".\r\n"
	}
	b.WriteString(body)
	msg := b.String()
	if c.sign != "" {
		var out bytes.Buffer
		err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{
			Domain: c.sign, Selector: "sel", Signer: key,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             []string{"From", "To", "Subject", "Date", "Message-ID"},
		})
		if err != nil {
			return "", err
		}
		msg = out.String()
	}
	if c.mutate != nil {
		msg = c.mutate(msg)
	}
	return msg, nil
}

func zone(c msgCase) string {
	var b strings.Builder
	ip, helo := c.ip, c.helo
	if ip == "" {
		ip = ipSender
	}
	if helo == "" {
		helo = "mail.example.com"
	}
	fmt.Fprintf(&b, ";; golden case %s (written by auth/testdata/gen)\n", c.name)
	fmt.Fprintf(&b, ";; ip %s\n;; helo %s\n;; mail-from %s\n", ip, helo, c.mailFrom)
	for _, s := range c.servfail {
		fmt.Fprintf(&b, ";; servfail %s\n", s)
	}
	for _, d := range c.allow {
		fmt.Fprintf(&b, ";; allow-domain %s\n", d)
	}
	for _, l := range append(append([]string{}, base...), c.zone...) {
		b.WriteString(l + "\n")
	}
	return b.String()
}
