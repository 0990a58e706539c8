package milter

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
)

// corpusDir is the Mail::DKIM corpus of auth/dkim (licence and source in
// its SOURCE.md); the files are read in place, not copied.
const corpusDir = "../auth/dkim/testdata/dkim-mail-dkim-corpus"

// corpusZone turns FAKE_DNS.dat into zone text for dnstest, and returns
// the names that must answer SERVFAIL and those whose queries are dropped.
func corpusZone(t *testing.T) (zone string, servfail, drop []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, "FAKE_DNS.dat"))
	if err != nil {
		t.Fatal(err)
	}
	var z strings.Builder
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		name, val, _ := strings.Cut(line, " ")
		name += "."
		val = strings.TrimLeft(val, " \t")
		switch {
		case val == "NXDOMAIN":
		case val == "~~SERVFAIL~~":
			servfail = append(servfail, name)
		case strings.HasPrefix(val, "~~"):
			drop = append(drop, name)
		case val == `""`:
			z.WriteString(name + ` TXT ""` + "\n")
		default:
			z.WriteString(name + " TXT " + txtStrings(val) + "\n")
		}
	}
	return z.String(), servfail, drop
}

// txtStrings quotes a TXT value as character-strings of at most 255 bytes.
func txtStrings(v string) string {
	var parts []string
	for len(v) > 0 {
		n := min(len(v), 200)
		s := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v[:n])
		parts = append(parts, `"`+s+`"`)
		v = v[n:]
	}
	if len(parts) == 0 {
		return `""`
	}
	return strings.Join(parts, " ")
}

// arMethod finds each "method=result" of an Authentication-Results value.
var arMethod = regexp.MustCompile(`(?:^|[;\s])(spf|dkim|dmarc)=([a-z]+)`)

// arDKIM returns "result d=domain" for each dkim resinfo of an A-R value.
func arDKIM(ar string) []string {
	ar = strings.NewReplacer("\r\n", " ", "\n", " ", "\t", " ").Replace(ar)
	locs := arMethod.FindAllStringSubmatchIndex(ar, -1)
	var out []string
	for i, l := range locs {
		if ar[l[2]:l[3]] != "dkim" {
			continue
		}
		end := len(ar)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		seg := ar[l[1]:end]
		d := ""
		if m := regexp.MustCompile(`header\.d=([^\s;]+)`).FindStringSubmatch(seg); m != nil {
			d = strings.ToLower(m[1])
		}
		out = append(out, ar[l[4]:l[5]]+" d="+d)
	}
	return out
}

func verifyWant(res []dkim.Result) []string {
	if len(res) == 0 {
		return []string{"none d="}
	}
	var out []string
	for _, r := range res {
		out = append(out, string(r.Result)+" d="+strings.ToLower(r.Domain))
	}
	return out
}

// TestDKIMCorpusThroughMilter sends every Mail::DKIM corpus message through
// a real milter session, with its header given the way Postfix gives it
// (leading-space option, LF folds, CRLF body in chunks of at most 64 KiB),
// and checks that the Authentication-Results field we insert carries the
// same dkim results as dkim.Verify on the same file.
func TestDKIMCorpusThroughMilter(t *testing.T) {
	zone, servfail, drop := corpusZone(t)
	env := newTestEnv(t, zone, envOptions{dns: func(c *dns.Config) { c.Timeout = 300 * time.Millisecond }})
	for _, n := range servfail {
		env.dns.ServFail(n)
	}
	for _, n := range drop {
		env.dns.Drop(n)
	}
	res, err := dns.New(dns.Config{Servers: []string{env.dns.Addr}, Timeout: 300 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(corpusDir, "corpus", "*.txt"))
	if err != nil || len(files) < 50 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	s := env.client()
	defer s.Close()
	connect(t, s, "192.0.2.25", "client.example")
	seen := map[string]int{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := verifyWant(dkim.Verify(context.Background(), bytes.NewReader(raw), dkim.Options{Resolver: res}))
		mods, act := sendMessage(t, s, "sender@example.org", raw)
		ar := insertedAR(mods)
		if ar == "" {
			t.Errorf("%s: no Authentication-Results inserted (action %c)", filepath.Base(f), act.Code)
			continue
		}
		got := arDKIM(ar)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: milter says %v, dkim.Verify %v\nA-R: %s", filepath.Base(f), got, want, ar)
		}
		for _, g := range got {
			seen[strings.Fields(g)[0]]++
		}
	}
	// The corpus exercises every outcome the comparison should cover.
	for _, r := range []string{"pass", "fail", "policy", "permerror"} {
		if seen[r] == 0 {
			t.Errorf("no signature ended %s: %v", r, seen)
		}
	}
	t.Logf("results compared: %v", seen)
}

// TestDKIMPassUnusualSpacing signs, with c=simple/simple and c=relaxed,
// a message whose header has no space, a tab, two spaces after the colon
// and folded lines, and a body larger than one milter chunk; through the
// milter every signature must pass (byte-exact header reconstruction).
func TestDKIMPassUnusualSpacing(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	key := ed25519.NewKeyFromSeed(seed)
	pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	zone := `sel._domainkey.signer.test. TXT "v=DKIM1; k=ed25519; p=` + pub + `"
signer.test. TXT "v=spf1 -all"
_dmarc.signer.test. TXT "v=DMARC1; p=reject"
`
	env := newTestEnv(t, zone, envOptions{})
	hdr := "From: Signer <a@signer.test>\r\n" +
		"To:nospace@example.net\r\n" +
		"Subject:\ttabbed\r\n" +
		"X-Two:  two spaces \r\n" +
		"X-Folded: first\r\n  second line\r\n\tthird\r\n" +
		"X-Empty:\r\n" +
		"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n" +
		"Message-ID: <1@signer.test>\r\n\r\n"
	body := strings.Repeat("line of body text with trailing space \r\n", 4000) // ~160 KB
	s := env.client()
	defer s.Close()
	connect(t, s, "192.0.2.26", "client.example")
	for _, c := range []string{"simple/simple", "relaxed/relaxed", "simple/relaxed"} {
		hc, bc, _ := strings.Cut(c, "/")
		var signed bytes.Buffer
		err := msgauth.Sign(&signed, strings.NewReader(hdr+body), &msgauth.SignOptions{
			Domain: "signer.test", Selector: "sel", Signer: key,
			HeaderCanonicalization: msgauth.Canonicalization(hc),
			BodyCanonicalization:   msgauth.Canonicalization(bc),
			HeaderKeys:             []string{"From", "To", "Subject", "X-Two", "X-Folded", "X-Empty", "Date", "Message-ID"},
		})
		if err != nil {
			t.Fatal(err)
		}
		mods, act := sendMessage(t, s, "a@signer.test", signed.Bytes())
		ar := insertedAR(mods)
		if got := arDKIM(ar); len(got) != 1 || got[0] != "pass d=signer.test" {
			t.Errorf("%s: dkim %v, want pass\nA-R: %s", c, got, ar)
		}
		if !strings.Contains(ar, "dmarc=pass") || act.Code != gomilter.ActAccept {
			t.Errorf("%s: action %c, A-R %s", c, act.Code, ar)
		}
	}
}
