package main

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// The corpus is data only: every domain is answered by the bench's own DNS
// server and every client address is from the documentation ranges
// 198.51.100.0/24 (senders the SPF records authorize) and 203.0.113.0/24
// (spoofers); nothing is ever sent to them.

// Entry describes one message of the corpus (manifest.json).
type Entry struct {
	File     string `json:"file"`
	Kind     string `json:"kind"`
	ClientIP string `json:"client_ip"`
	Helo     string `json:"helo"`
	MailFrom string `json:"mail_from"`
	Rcpt     string `json:"rcpt"`
	// Expect is the final action a DMARC-enforcing milter should take:
	// accept, quarantine or reject.
	Expect string `json:"expect"`
}

// signer is one DKIM key of the corpus.
type signer struct {
	domain, selector string
	key              crypto.Signer
}

// kind is one recipe for a message.
type kind struct {
	name   string
	weight int
	expect string
	from   string // author domain
	mail   string // MAIL FROM domain ("" = null sender)
	good   bool   // client address authorized by SPF (198.51.100/24) or not (203.0.113/24)
	sign   []string
	broken string // "", "body" or "header": altered after signing
}

// kinds is the corpus mix. Policies (zone below): example.com p=reject,
// mail.example.com p=none (its own record), example.net p=quarantine
// sp=reject, example.org p=none, shop.example.org p=reject, lists.example
// no record at all.
var kinds = []kind{
	{name: "aligned-rsa", weight: 16, expect: "accept", from: "example.com", mail: "example.com", good: true, sign: []string{"rsa.example.com"}},
	{name: "aligned-ed25519", weight: 6, expect: "accept", from: "example.net", mail: "example.net", good: true, sign: []string{"ed.example.net"}},
	{name: "dual-signed", weight: 6, expect: "accept", from: "example.net", mail: "example.net", good: true, sign: []string{"rsa.example.net", "ed.example.net"}},
	{name: "spf-only-include", weight: 10, expect: "accept", from: "news.example.net", mail: "news.example.net", good: true},
	{name: "spf-only-redirect", weight: 6, expect: "accept", from: "shop.example.org", mail: "shop.example.org", good: true},
	{name: "subdomain-dkim-org", weight: 8, expect: "accept", from: "mail.example.com", mail: "mail.example.com", good: true, sign: []string{"rsa.example.com"}},
	// Forwarded: the client is not in SPF, only the signature aligns.
	{name: "forwarded-rsa", weight: 6, expect: "accept", from: "example.com", mail: "example.com", good: false, sign: []string{"rsa.example.com"}},
	{name: "forwarded-ed25519", weight: 4, expect: "accept", from: "example.net", mail: "example.net", good: false, sign: []string{"ed.example.net"}},
	{name: "third-party-signed", weight: 5, expect: "accept", from: "example.org", mail: "example.org", good: false, sign: []string{"rsa.example.com"}},
	{name: "broken-body-spf-pass", weight: 5, expect: "accept", from: "example.net", mail: "example.net", good: true, sign: []string{"rsa.example.net"}, broken: "body"},
	{name: "missing-key-spf-pass", weight: 3, expect: "accept", from: "example.com", mail: "example.com", good: true, sign: []string{"gone.example.com"}},
	{name: "no-dmarc-record", weight: 5, expect: "accept", from: "lists.example", mail: "lists.example", good: false},
	{name: "spoof-none", weight: 5, expect: "accept", from: "example.org", mail: "example.org", good: false},
	{name: "broken-body-reject", weight: 6, expect: "reject", from: "example.com", mail: "example.com", good: false, sign: []string{"rsa.example.com"}, broken: "body"},
	{name: "broken-header-reject", weight: 3, expect: "reject", from: "example.com", mail: "example.com", good: false, sign: []string{"ed.example.com"}, broken: "header"},
	{name: "spoof-reject", weight: 8, expect: "reject", from: "example.com", mail: "example.com", good: false},
	{name: "spoof-sub-reject", weight: 3, expect: "reject", from: "shop.example.org", mail: "example.org", good: false},
	{name: "spoof-unaligned-spf", weight: 3, expect: "reject", from: "example.com", mail: "example.org", good: true},
	{name: "spoof-quarantine", weight: 5, expect: "quarantine", from: "example.net", mail: "example.org", good: false},
}

// sizeClasses spreads message sizes from 2 KB to 1 MB, most of them small.
var sizeClasses = []struct{ min, max, weight int }{
	{2 << 10, 12 << 10, 55},
	{12 << 10, 64 << 10, 25},
	{64 << 10, 256 << 10, 12},
	{256 << 10, 1 << 20, 8},
}

// zoneBase is the DNS data besides the DKIM keys.
const zoneBase = `
example.com.            TXT "v=spf1 include:_spf.example.com -all"
_spf.example.com.       TXT "v=spf1 ip4:198.51.100.0/26 include:_spf2.example.com ~all"
_spf2.example.com.      TXT "v=spf1 ip4:198.51.100.64/26 -all"
_dmarc.example.com.     TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.com"
mail.example.com.       TXT "v=spf1 a mx -all"
mail.example.com.       A   198.51.100.10
mail.example.com.       MX  10 mx.mail.example.com.
mx.mail.example.com.    A   198.51.100.11
_dmarc.mail.example.com. TXT "v=DMARC1; p=none"
example.net.            TXT "v=spf1 ip4:198.51.100.128/25 ip4:198.51.100.0/25 ip6:2001:db8::/32 -all"
_dmarc.example.net.     TXT "v=DMARC1; p=quarantine; sp=reject; adkim=r; aspf=r"
news.example.net.       TXT "v=spf1 include:example.net -all"
example.org.            TXT "v=spf1 ip4:198.51.100.0/24 ?all"
_dmarc.example.org.     TXT "v=DMARC1; p=none"
shop.example.org.       TXT "v=spf1 redirect=example.org"
_dmarc.shop.example.org. TXT "v=DMARC1; p=reject"
lists.example.          TXT "v=spf1 ip4:198.51.100.200 -all"
mta1.example.com.       A   198.51.100.20
mta1.example.com.       TXT "v=spf1 a -all"
mta2.example.net.       A   198.51.100.140
mta2.example.net.       TXT "v=spf1 a -all"
`

// GenConfig drives Generate.
type GenConfig struct {
	Dir      string
	Messages int
	Seed     uint64
	MaxSize  int // cap on the message size (0: 1 MB)
}

// Generate writes a corpus: DIR/zone.txt, DIR/manifest.json and one
// DIR/NNNN.eml per message (CRLF line ends).
func Generate(cfg GenConfig) error {
	if cfg.Messages <= 0 {
		return fmt.Errorf("bench: -messages must be positive")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	rng := mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	signers, zoneKeys, err := makeSigners()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, "zone.txt"), []byte(zoneBase+zoneKeys), 0o644); err != nil {
		return err
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	entries := make([]Entry, 0, cfg.Messages)
	for i := range cfg.Messages {
		k := pick(rng, total)
		size := pickSize(rng, cfg.MaxSize)
		e, raw, err := makeMessage(rng, i, k, size, signers)
		if err != nil {
			return fmt.Errorf("bench: message %d (%s): %w", i, k.name, err)
		}
		if err := os.WriteFile(filepath.Join(cfg.Dir, e.File), raw, 0o644); err != nil {
			return err
		}
		entries = append(entries, e)
	}
	js, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cfg.Dir, "manifest.json"), append(js, '\n'), 0o644)
}

func pick(rng *mrand.Rand, total int) kind {
	n := rng.IntN(total)
	for _, k := range kinds {
		if n < k.weight {
			return k
		}
		n -= k.weight
	}
	return kinds[0]
}

func pickSize(rng *mrand.Rand, maxSize int) int {
	if maxSize <= 0 {
		maxSize = 1 << 20
	}
	n := rng.IntN(100)
	for _, c := range sizeClasses {
		if n < c.weight {
			return min(c.min+rng.IntN(c.max-c.min), maxSize)
		}
		n -= c.weight
	}
	return min(4096, maxSize)
}

// makeSigners creates the corpus keys (RSA-2048 and Ed25519) and their
// DNS records. "gone.example.com" signs with a key whose record is absent.
func makeSigners() (map[string]signer, string, error) {
	signers := map[string]signer{}
	var zone strings.Builder
	for _, s := range []struct{ name, domain, sel, alg string }{
		{"rsa.example.com", "example.com", "rsa2026", "rsa"},
		{"ed.example.com", "example.com", "ed2026", "ed25519"},
		{"gone.example.com", "example.com", "gone", "rsa"},
		{"rsa.example.net", "example.net", "brisbane", "rsa"},
		{"ed.example.net", "example.net", "ed25519", "ed25519"},
	} {
		var key crypto.Signer
		var pub []byte
		switch s.alg {
		case "rsa":
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return nil, "", err
			}
			key = k
			pub, err = x509.MarshalPKIXPublicKey(&k.PublicKey)
			if err != nil {
				return nil, "", err
			}
		default:
			p, k, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return nil, "", err
			}
			key, pub = k, p
		}
		signers[s.name] = signer{domain: s.domain, selector: s.sel, key: key}
		if s.name == "gone.example.com" {
			continue
		}
		rec := "v=DKIM1; k=" + s.alg + "; p=" + base64.StdEncoding.EncodeToString(pub)
		fmt.Fprintf(&zone, "%s._domainkey.%s. TXT %s\n", s.sel, s.domain, quoteTXT(rec))
	}
	return signers, zone.String(), nil
}

// quoteTXT splits a long TXT value into quoted strings of at most 255 octets.
func quoteTXT(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, `"`+s[:255]+`"`)
		s = s[255:]
	}
	return strings.Join(append(parts, `"`+s+`"`), " ")
}

var words = strings.Fields(`the quick brown fox jumps over lazy dog invoice meeting report
quarterly figures attached please review schedule tomorrow regards team project update
delivery status account security notice newsletter offer limited time thanks again`)

// makeMessage builds, signs and (for broken kinds) alters one message.
func makeMessage(rng *mrand.Rand, i int, k kind, size int, signers map[string]signer) (Entry, []byte, error) {
	var ip string
	if k.good {
		// Inside every authorizing record for the domain of the kind.
		switch k.mail {
		case "example.net", "news.example.net":
			ip = fmt.Sprintf("198.51.100.%d", 130+rng.IntN(60))
		case "mail.example.com":
			ip = "198.51.100.10"
		case "lists.example":
			ip = "198.51.100.200"
		default:
			ip = fmt.Sprintf("198.51.100.%d", 1+rng.IntN(120))
		}
	} else {
		ip = fmt.Sprintf("203.0.113.%d", 1+rng.IntN(250))
	}
	helos := []string{"mta1.example.com", "mta2.example.net", "smtp.example.org", "[" + ip + "]"}
	e := Entry{
		File:     fmt.Sprintf("%05d.eml", i),
		Kind:     k.name,
		ClientIP: ip,
		Helo:     helos[rng.IntN(len(helos))],
		Rcpt:     fmt.Sprintf("user%d@inbox.example", rng.IntN(50)),
		Expect:   k.expect,
	}
	if k.mail != "" {
		e.MailFrom = fmt.Sprintf("bounce-%d@%s", rng.IntN(1000), k.mail)
	}

	var b bytes.Buffer
	date := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	fmt.Fprintf(&b, "Received: from %s (%s [%s])\r\n\tby relay.example.net with ESMTPS id %08X\r\n\tfor <%s>; %s\r\n",
		e.Helo, e.Helo, ip, rng.Uint32(), e.Rcpt, date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: \"Sender %d\" <user%d@%s>\r\n", i, rng.IntN(100), k.from)
	fmt.Fprintf(&b, "To: <%s>\r\n", e.Rcpt)
	fmt.Fprintf(&b, "Subject: %s %s %d\r\n", words[rng.IntN(len(words))], words[rng.IntN(len(words))], i)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%d.%08x@%s>\r\n", i, rng.Uint32(), k.from)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
	b.WriteString("X-Mailer: authmilter-bench corpus\r\n")
	fmt.Fprintf(&b, "List-Unsubscribe: <mailto:unsubscribe-%d@%s>,\r\n <https://%s/unsubscribe?id=%d>\r\n", i, k.from, k.from, i)
	b.WriteString("\r\n")
	for b.Len() < size {
		n := 8 + rng.IntN(8)
		for j := range n {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[rng.IntN(len(words))])
		}
		if rng.IntN(10) == 0 {
			b.WriteString("  ") // trailing spaces: relaxed and simple differ
		}
		b.WriteString("\r\n")
	}
	raw := b.Bytes()

	for _, name := range k.sign {
		s, ok := signers[name]
		if !ok {
			return e, nil, fmt.Errorf("no signer %q", name)
		}
		var canon dkim.Canonicalization = dkim.CanonicalizationRelaxed
		if rng.IntN(4) == 0 {
			canon = dkim.CanonicalizationSimple
		}
		var out bytes.Buffer
		err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{
			Domain: s.domain, Selector: s.selector, Signer: s.key,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: canon,
			HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "List-Unsubscribe"},
		})
		if err != nil {
			return e, nil, err
		}
		raw = out.Bytes()
	}
	switch k.broken {
	case "body":
		raw = append(raw, "-- \r\nappended by a mailing list footer\r\n"...)
	case "header":
		raw = bytes.Replace(raw, []byte("Subject: "), []byte("Subject: [EXTERNAL] "), 1)
	}
	return e, raw, nil
}
