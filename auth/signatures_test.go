package auth_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/policy"
)

const sigZone = `example.test. TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.example.test. TXT "v=DMARC1; p=none"`

// sigEvaluator trusts the S/MIME CA and the OpenPGP keyring of the
// auth/bodysig test material.
func sigEvaluator(t testing.TB, edit func(*auth.Config)) *auth.Evaluator {
	t.Helper()
	_, r := dnstest.StartResolver(t, sigZone)
	cfg := auth.DefaultConfig()
	cfg.AuthservID = "mx.test"
	cfg.SMIME.CAFile = "bodysig/testdata/ca.pem"
	cfg.OpenPGP.Keyring = []string{"bodysig/testdata/keyring.asc"}
	if edit != nil {
		edit(&cfg)
	}
	ev, err := auth.New(cfg, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func evalFile(t testing.TB, ev *auth.Evaluator, name, prefix string) *auth.Report {
	t.Helper()
	raw, err := os.ReadFile("bodysig/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	env := auth.Envelope{ClientIP: net.ParseIP("192.0.2.1"), Helo: "mail.example.test", MailFrom: "alice@example.test"}
	rep, err := ev.EvaluateReader(context.Background(), env, strings.NewReader(prefix+string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestSignaturesReported: signature results come in their own
// Authentication-Results field, one per method; the SPF/DKIM/DMARC field
// is unchanged; a plain message has none.
func TestSignaturesReported(t *testing.T) {
	ev := sigEvaluator(t, nil)
	for _, c := range []struct {
		file, want string
	}{
		{"smime-detached.eml", "mx.test;\r\n\tsmime=pass body.smime-identifier=alice@example.test body.smime-part=TEXT\r\n\tbody.smime-serial="},
		{"smime-in-mixed.eml", "mx.test;\r\n\tsmime=pass body.smime-identifier=alice@example.test body.smime-part=1\r\n"},
		{"smime-detached-tampered.eml", "mx.test;\r\n\tsmime=fail ("},
		{"pgpmime.eml", "mx.test;\r\n\tx-openpgp=pass body.x-openpgp-identifier=alice@example.test\r\n\tbody.x-openpgp-part=TEXT\r\n\tbody.x-openpgp-fingerprint="},
		{"inline.eml", "mx.test;\r\n\tx-openpgp=pass body.x-openpgp-identifier=alice@example.test\r\n"},
		{"plain.eml", ""},
	} {
		rep := evalFile(t, ev, c.file, "")
		if c.want == "" {
			if len(rep.Signatures) != 0 || len(rep.SignatureHeaders) != 0 {
				t.Errorf("%s: %+v %q", c.file, rep.Signatures, rep.SignatureHeaders)
			}
			continue
		}
		if len(rep.SignatureHeaders) != 1 || !strings.HasPrefix(rep.SignatureHeaders[0], c.want) {
			t.Errorf("%s: headers %q, want one starting %q", c.file, rep.SignatureHeaders, c.want)
		}
		if strings.Contains(rep.Header, "smime") || strings.Contains(rep.Header, "openpgp") {
			t.Errorf("%s: main field %q holds a signature result", c.file, rep.Header)
		}
		if rep.Decision.Action != policy.Accept {
			t.Errorf("%s: action %s (%s): signatures are report-only by default", c.file, rep.Decision.Action, rep.Decision.Reason)
		}
	}
}

// TestSignatureFieldForgedRemoved: a second field with our authserv-id
// (a forged smime=pass) is among the fields removed.
func TestSignatureFieldForgedRemoved(t *testing.T) {
	ev := sigEvaluator(t, nil)
	rep := evalFile(t, ev, "plain.eml", "Authentication-Results: other.example; spf=pass\r\n"+
		"Authentication-Results: mx.test;\r\n\tsmime=pass body.smime-identifier=alice@example.test\r\n")
	if len(rep.Forged) != 1 || rep.Forged[0] != 2 {
		t.Errorf("forged %v, want [2]", rep.Forged)
	}
}

// TestRequireSigned: a listed author domain's DMARC-passing mail needs a
// pass for the whole body (part TEXT).
func TestRequireSigned(t *testing.T) {
	ev := sigEvaluator(t, func(c *auth.Config) { c.Policy.RequireSigned = []string{"example.test"} })
	for file, want := range map[string]policy.Action{
		"smime-detached.eml":          policy.Accept,
		"pgpmime.eml":                 policy.Accept,
		"plain.eml":                   policy.Quarantine,
		"smime-in-mixed.eml":          policy.Quarantine, // the footer outside is not signed
		"smime-detached-tampered.eml": policy.Quarantine,
		"smime-untrusted.eml":         policy.Quarantine,
	} {
		rep := evalFile(t, ev, file, "")
		if rep.Decision.Action != want {
			t.Errorf("%s: %s (%s), want %s", file, rep.Decision.Action, rep.Decision.Reason, want)
		}
	}
	cfg := auth.DefaultConfig()
	cfg.AuthservID = "mx.test"
	cfg.Policy.RequireSigned = []string{"example.test"}
	cfg.SMIME.Enabled, cfg.OpenPGP.Enabled = false, false
	if _, err := auth.New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "policy.require_signed") {
		t.Errorf("require_signed without a method: %v", err)
	}
}

func TestSignatureConfigValidated(t *testing.T) {
	for _, c := range []struct {
		edit func(*auth.Config)
		key  string
	}{
		{func(c *auth.Config) { c.SMIME.CAFile = "bodysig/testdata/none.pem" }, "smime.ca_file"},
		{func(c *auth.Config) { c.SMIME.CAFile = "bodysig/testdata/keyring.asc" }, "smime.ca_file"},
		{func(c *auth.Config) { c.OpenPGP.Keyring = []string{"bodysig/testdata/ca.pem"} }, "openpgp.keyring"},
		{func(c *auth.Config) { c.SMIME.MaxSignatureBytes = 10 }, "smime.max_signature_bytes"},
		{func(c *auth.Config) { c.OpenPGP.MaxSignatureBytes = 0 }, "openpgp.max_signature_bytes"},
		{func(c *auth.Config) { c.SMIME.MaxOpaqueBytes = 0 }, "smime.max_opaque_bytes"},
		{func(c *auth.Config) { c.SMIME.MaxCertificates = 0 }, "smime.max_certificates"},
		{func(c *auth.Config) { c.SMIME.MinRSABits = 512 }, "smime.min_rsa_bits"},
		{func(c *auth.Config) { c.SMIME.Revocation = "ldap" }, "smime.revocation"},
		{func(c *auth.Config) { c.SMIME.RevocationTimeout = 0 }, "smime.revocation_timeout"},
		{func(c *auth.Config) { c.SMIME.RevocationTimeout = time.Hour }, "smime.revocation_timeout"},
		{func(c *auth.Config) { c.OpenPGP.WKDTimeout = -time.Second }, "openpgp.wkd_timeout"},
	} {
		cfg := auth.DefaultConfig()
		cfg.AuthservID = "mx.test"
		c.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.key+":") {
			t.Errorf("%s: got %v", c.key, err)
		}
	}
}

// plainMessage is a common unsigned message: text/plain, ~10 KB.
var plainMessage = "From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: hello\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
	strings.Repeat("Some ordinary text of an ordinary message, nothing signed here at all.\r\n", 140)

// BenchmarkMessagePlain: a plain text message through auth.Message with
// signature checking off and on (the default): the same allocations.
func BenchmarkMessagePlain(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "signatures=off"
		if on {
			name = "signatures=on"
		}
		b.Run(name, func(b *testing.B) {
			ev := sigEvaluator(b, func(c *auth.Config) { c.SMIME.Enabled, c.OpenPGP.Enabled = on, on })
			env := auth.Envelope{ClientIP: net.ParseIP("192.0.2.1"), Helo: "mail.example.test", MailFrom: "alice@example.test"}
			b.ReportAllocs()
			for b.Loop() {
				rep, err := ev.EvaluateReader(context.Background(), env, strings.NewReader(plainMessage))
				if err != nil || len(rep.Signatures) != 0 || rep.SPF.Result != "pass" {
					b.Fatal(err, rep.Signatures, rep.SPF)
				}
			}
		})
	}
}

// TestPlainMessageSignaturesAllocateNothing: with signatures on, an
// unsigned text/plain, text/html or multipart/alternative message
// allocates no more than with them off.
func TestPlainMessageSignaturesAllocateNothing(t *testing.T) {
	env := auth.Envelope{ClientIP: net.ParseIP("192.0.2.1"), Helo: "mail.example.test", MailFrom: "alice@example.test"}
	msgs := []string{plainMessage,
		strings.Replace(plainMessage, "text/plain", "text/html", 1),
		strings.Replace(plainMessage, "text/plain; charset=utf-8", "multipart/alternative; boundary=b", 1)}
	for i, msg := range msgs {
		var allocs [2]float64
		for j, on := range []bool{false, true} {
			ev := sigEvaluator(t, func(c *auth.Config) { c.SMIME.Enabled, c.OpenPGP.Enabled = on, on })
			ev.EvaluateReader(context.Background(), env, strings.NewReader(msg)) // warm the DNS cache
			allocs[j] = testing.AllocsPerRun(50, func() {
				if rep, err := ev.EvaluateReader(context.Background(), env, strings.NewReader(msg)); err != nil || rep.Signatures != nil {
					t.Fatal(err, rep.Signatures)
				}
			})
		}
		if allocs[1] > allocs[0]+0.5 {
			t.Errorf("message %d: %.1f allocations with signatures on, %.1f off", i, allocs[1], allocs[0])
		}
	}
}

// BenchmarkMessageSMIME100K: a 100 KB S/MIME clear-signed message through
// auth.Message (SPF, DKIM none, DMARC, and the signature: walk, SHA-256,
// RSA-2048 signature and chain), against BenchmarkMessagePlain.
func BenchmarkMessageSMIME100K(b *testing.B) {
	raw, err := os.ReadFile("bodysig/testdata/smime-100k.eml")
	if err != nil {
		b.Fatal(err)
	}
	ev := sigEvaluator(b, nil)
	env := auth.Envelope{ClientIP: net.ParseIP("192.0.2.1"), Helo: "mail.example.test", MailFrom: "alice@example.test"}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		rep, err := ev.EvaluateReader(context.Background(), env, bytes.NewReader(raw))
		if err != nil || len(rep.Signatures) != 1 || rep.Signatures[0].Result != "pass" {
			b.Fatal(err, rep.Signatures)
		}
	}
}
