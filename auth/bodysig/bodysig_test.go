package bodysig

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"

	"github.com/authmilter/authmilter/auth/mime"
	"github.com/authmilter/authmilter/auth/openpgp"
	"github.com/authmilter/authmilter/auth/smime"
)

// testNow is after the test material was made (testdata/gen.sh) and well
// inside its certificates' and keys' validity.
var testNow = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

func testChecker(t testing.TB, keys openpgp.KeySource) *Checker {
	t.Helper()
	pem, err := os.ReadFile("testdata/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA in testdata/ca.pem")
	}
	if keys == nil {
		keys = testKeyring(t)
	}
	now := func() time.Time { return testNow }
	return New(Options{
		SMIME:   smime.New(smime.Options{Roots: pool, Now: now}),
		OpenPGP: openpgp.New(openpgp.Options{Keys: keys, Now: now}),
	})
}

func testKeyring(t testing.TB) openpgp.Keyring {
	t.Helper()
	f, err := os.Open("testdata/keyring.asc")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k, err := openpgp.ReadKeyring(f)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// splitMessage splits a message file into the raw Content-Type,
// Content-Transfer-Encoding and From values and the body; fold replaces
// the CRLF of a folded header line.
func splitMessage(t testing.TB, raw []byte, fold string) (ct, cte string, from []string, body []byte) {
	t.Helper()
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no header/body separator")
	}
	for _, f := range strings.Split(strings.ReplaceAll(string(head), "\r\n ", fold+" "), "\r\n") {
		name, value, _ := strings.Cut(f, ":")
		switch strings.ToLower(name) {
		case "content-type":
			ct = value
		case "content-transfer-encoding":
			cte = value
		case "from":
			from = append(from, value)
		}
	}
	return ct, cte, from, body
}

// check runs a message file through a Checker in chunks of n bytes.
func check(t testing.TB, c *Checker, raw []byte, n int) []mime.Result {
	t.Helper()
	ct, cte, from, body := splitMessage(t, raw, "")
	m := c.NewMessage(context.Background(), ct, cte, FromAddresses(from))
	for len(body) > 0 {
		k := min(n, len(body))
		if n <= 0 {
			k = len(body)
		}
		m.Write(body[:k])
		body = body[k:]
	}
	return m.Close()
}

type want struct {
	method mime.Method
	result mime.Status
	part   string
	reason string // a substring of the reason
}

var golden = map[string][]want{
	"smime-detached.eml":          {{mime.MethodSMIME, mime.StatusPass, "TEXT", ""}},
	"cms-detached.eml":            {{mime.MethodSMIME, mime.StatusPass, "TEXT", ""}},
	"smime-opaque.eml":            {{mime.MethodSMIME, mime.StatusPass, "TEXT", ""}},
	"smime-in-mixed.eml":          {{mime.MethodSMIME, mime.StatusPass, "1", ""}},
	"smime-detached-tampered.eml": {{mime.MethodSMIME, mime.StatusFail, "TEXT", "digest mismatch"}},
	"smime-opaque-tampered.eml":   {{mime.MethodSMIME, mime.StatusFail, "TEXT", "digest mismatch"}},
	"smime-noeku.eml":             {{mime.MethodSMIME, mime.StatusPolicy, "TEXT", "email protection"}},
	"smime-wrong-address.eml":     {{mime.MethodSMIME, mime.StatusPolicy, "TEXT", "From address"}},
	"smime-untrusted.eml":         {{mime.MethodSMIME, mime.StatusPolicy, "TEXT", "unknown authority"}},
	"smime-expired.eml":           {{mime.MethodSMIME, mime.StatusPolicy, "TEXT", "certificate expired"}},
	"smime-weak-key.eml":          {{mime.MethodSMIME, mime.StatusPolicy, "TEXT", "1024 bits"}},
	"smime-garbage.eml":           {{mime.MethodSMIME, mime.StatusPermerror, "TEXT", "unparsable"}},
	"smime-encrypted.eml":         {{mime.MethodSMIME, mime.StatusNeutral, "TEXT", "encrypted"}},
	"pgpmime.eml":                 {{mime.MethodOpenPGP, mime.StatusPass, "TEXT", ""}},
	"pgpmime-tampered.eml":        {{mime.MethodOpenPGP, mime.StatusFail, "TEXT", "bad signature"}},
	"pgpmime-wrong-uid.eml":       {{mime.MethodOpenPGP, mime.StatusPolicy, "TEXT", "user ID"}},
	"pgpmime-unknown-key.eml":     {{mime.MethodOpenPGP, mime.StatusNeutral, "TEXT", "no public key"}},
	"pgpmime-revoked.eml":         {{mime.MethodOpenPGP, mime.StatusFail, "TEXT", "revoked"}},
	"inline.eml":                  {{mime.MethodOpenPGP, mime.StatusPass, "TEXT", ""}},
	"inline-tampered.eml":         {{mime.MethodOpenPGP, mime.StatusFail, "TEXT", "bad signature"}},
	"pgp-encrypted.eml":           {{mime.MethodOpenPGP, mime.StatusNeutral, "TEXT", "encrypted"}},
	"plain.eml":                   nil,
	"smime-100k.eml":              {{mime.MethodSMIME, mime.StatusPass, "TEXT", ""}},
}

func TestTestdata(t *testing.T) {
	c := testChecker(t, nil)
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) != len(golden) {
		t.Errorf("%d messages in testdata, %d expected results", len(files), len(golden))
	}
	for name, ws := range golden {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 7, 100} {
			got := check(t, c, raw, n)
			if len(got) != len(ws) {
				t.Errorf("%s (chunks of %d): %d results %+v, want %d", name, n, len(got), got, len(ws))
				continue
			}
			for i, w := range ws {
				g := got[i]
				if g.Method != w.method || g.Result != w.result || g.Part != w.part || !strings.Contains(g.Reason, w.reason) {
					t.Errorf("%s (chunks of %d): got %+v, want %+v", name, n, g, w)
				}
				if g.Result == mime.StatusPass && g.Identifier != "alice@example.test" {
					t.Errorf("%s: identifier %q", name, g.Identifier)
				}
				if g.Method == mime.MethodSMIME && !g.Encrypted && g.Result != mime.StatusPermerror &&
					(g.Issuer == "" || g.Serial == "") {
					t.Errorf("%s: issuer %q and serial %q must come together", name, g.Issuer, g.Serial)
				}
				if g.Method == mime.MethodOpenPGP && g.Result == mime.StatusPass && len(g.Fingerprint) != 40 {
					t.Errorf("%s: fingerprint %q", name, g.Fingerprint)
				}
			}
		}
	}
}

func TestSMIMEPassNamesCertificate(t *testing.T) {
	raw, _ := os.ReadFile("testdata/smime-detached.eml")
	got := check(t, testChecker(t, nil), raw, 0)
	if len(got) != 1 || got[0].Issuer != "CN=Test S-MIME CA ca" || got[0].Serial == "" ||
		strings.ToUpper(got[0].Serial) != got[0].Serial {
		t.Errorf("got %+v", got)
	}
}

func TestNoCAIsPolicy(t *testing.T) {
	c := New(Options{SMIME: smime.New(smime.Options{Now: func() time.Time { return testNow }})})
	raw, _ := os.ReadFile("testdata/smime-detached.eml")
	got := check(t, c, raw, 0)
	if len(got) != 1 || got[0].Result != mime.StatusPolicy || got[0].Reason != "no trusted CA configured" {
		t.Errorf("got %+v", got)
	}
	// OpenPGP is off: a PGP/MIME message has no result.
	raw, _ = os.ReadFile("testdata/pgpmime.eml")
	if got := check(t, c, raw, 0); len(got) != 0 {
		t.Errorf("OpenPGP off: got %+v", got)
	}
}

type failingKeys struct{ err error }

func (f failingKeys) Keys(context.Context, uint64, []byte) (pgp.EntityList, error) { return nil, f.err }

func TestKeyLookupTimeoutIsTemperror(t *testing.T) {
	c := testChecker(t, failingKeys{context.DeadlineExceeded})
	for _, name := range []string{"pgpmime.eml", "inline.eml"} {
		raw, _ := os.ReadFile("testdata/" + name)
		got := check(t, c, raw, 0)
		if len(got) != 1 || got[0].Result != mime.StatusTemperror {
			t.Errorf("%s: got %+v", name, got)
		}
	}
}

func TestBrokenStructure(t *testing.T) {
	c := testChecker(t, nil)
	raw, _ := os.ReadFile("testdata/smime-detached.eml")
	cut := raw[:bytes.LastIndex(raw, []byte("\r\n------"))]
	if got := check(t, c, cut, 0); len(got) != 1 || got[0].Result != mime.StatusPermerror {
		t.Errorf("unterminated: got %+v", got)
	}
	noSig := []byte("Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=b\r\n\r\n" +
		"--b\r\n\r\ntext\r\n--b--\r\n")
	if got := check(t, c, noSig, 0); len(got) != 1 || got[0].Result != mime.StatusPermerror {
		t.Errorf("no signature part: got %+v", got)
	}
	big := []byte("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n" +
		"--b\r\n\r\ntext\r\n--b\r\n\r\n" + strings.Repeat("QUFB\r\n", 20000) + "--b--\r\n")
	if got := check(t, c, big, 0); len(got) != 1 || got[0].Result != mime.StatusPermerror ||
		!strings.Contains(got[0].Reason, "larger") {
		t.Errorf("oversized signature: got %+v", got)
	}
}

// TestExpiredAndTamperedFails: a signature value changed under an expired
// certificate is a fail, not a policy: the signature is checked whatever
// signing time the message claims (the library stops at a signing time
// outside the certificate's validity).
func TestExpiredAndTamperedFails(t *testing.T) {
	raw, err := os.ReadFile("testdata/smime-expired.eml")
	if err != nil {
		t.Fatal(err)
	}
	// The last base64 line of the signature part ends the signature value.
	end := bytes.LastIndex(raw, []byte("\r\n\r\n------"))
	start := bytes.LastIndex(raw[:end], []byte("\r\n")) + 2
	i := start + (end-start)/2
	if raw[i] == 'A' {
		raw[i] = 'B'
	} else {
		raw[i] = 'A'
	}
	got := check(t, testChecker(t, nil), raw, 0)
	if len(got) != 1 || got[0].Result != mime.StatusFail {
		t.Errorf("got %+v", got)
	}
}

// countingSource counts address lookups and finds nothing.
type countingSource struct{ n int }

func (c *countingSource) KeysFor(context.Context, string) (pgp.EntityList, error) {
	c.n++
	return nil, nil
}

// Address lookups (WKD) happen only for OpenPGP signatures whose key the
// keyring lacks.
func TestAddressLookupOnlyForOpenPGP(t *testing.T) {
	src := &countingSource{}
	base := testChecker(t, nil)
	c := New(Options{SMIME: base.o.SMIME, OpenPGP: openpgp.New(openpgp.Options{Keys: testKeyring(t), ByAddress: src,
		Now: func() time.Time { return testNow }})})
	for _, name := range []string{"plain.eml", "smime-detached.eml", "smime-opaque.eml", "pgpmime.eml", "inline.eml", "pgp-encrypted.eml"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		check(t, c, raw, 0)
	}
	if src.n != 0 {
		t.Fatalf("%d address lookups for messages whose keys are in the keyring or that have no OpenPGP signature", src.n)
	}
	raw, err := os.ReadFile("testdata/pgpmime-unknown-key.eml")
	if err != nil {
		t.Fatal(err)
	}
	rs := check(t, c, raw, 0)
	if src.n != 1 || len(rs) != 1 || rs[0].Result != mime.StatusNeutral {
		t.Fatalf("unknown key: %d lookups, results %+v", src.n, rs)
	}
}
