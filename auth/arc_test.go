package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/arc"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/policy"
)

// zoneTXT is a master-file TXT record for a long value, in 255-octet
// character-strings.
func zoneTXT(name, v string) string {
	var parts []string
	for len(v) > 0 {
		n := min(255, len(v))
		parts = append(parts, `"`+v[:n]+`"`)
		v = v[n:]
	}
	return name + ". TXT " + strings.Join(parts, " ") + "\n"
}

// listHop seals msg (CRLF) as a mailing list would after verifying it:
// aar is the list's recorded results.
func listHop(t *testing.T, s *arc.Signer, msg, aar string) string {
	t.Helper()
	fields, body := arc.SplitHeader([]byte(msg))
	bh := dkim.NewBodyHasher(true, -1)
	bh.Write(body)
	sum, _, _ := bh.Sum()
	set, err := s.Seal(arc.SealInput{Fields: fields, BodyHash: sum, AuthResults: aar, CV: arc.None, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return "ARC-Seal: " + set.Seal + "\r\nARC-Message-Signature: " + set.AMS + "\r\nARC-Authentication-Results: " +
		set.AAR + "\r\n" + msg
}

type arcFixture struct {
	srv  *dnstest.Server
	res  Resolver
	list *arc.Signer
}

// newARCFixture: reject.test publishes p=reject and no SPF for the list's
// address; lists.test seals with an RSA key published in DNS.
func newARCFixture(t *testing.T) *arcFixture {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := dkim.KeyRecord(key)
	srv, r := dnstest.StartResolver(t, `_dmarc.reject.test. TXT "v=DMARC1; p=reject"
reject.test. TXT "v=spf1 ip4:192.0.2.1 -all"
lists.test. TXT "v=spf1 -all"
`+zoneTXT("s1._domainkey.lists.test", rec))
	list, err := arc.NewSigner("lists.test", "s1", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &arcFixture{srv: srv, res: r, list: list}
}

const listMsg = "From: ceo@reject.test\r\nTo: users@lists.test\r\nSubject: [users] hello\r\n" +
	"Date: Mon, 7 Dec 2026 16:00:00 +0000\r\nList-Id: <users.lists.test>\r\n\r\nhello\r\n-- \r\nlist footer\r\n"

func (f *arcFixture) evaluate(t *testing.T, cfg Config, msg string) (*Message, *Report) {
	t.Helper()
	cfg.AuthservID = "mx.example"
	cfg.Policy.ListIDQuarantines = false // ARC alone decides
	e, err := New(cfg, f.res, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := Envelope{ClientIP: net.ParseIP("198.51.100.9"), Helo: "mail.lists.test", MailFrom: "bounce@lists.test"}
	m := e.NewMessage(context.Background(), env)
	if err := feed(m, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	return m, m.Finish(context.Background())
}

// TestARCOverrideBranches: a list's p=reject mail with SPF and DKIM broken
// is quarantined only when the list is a trusted sealer whose passing
// chain recorded a DMARC pass for the author domain; every other branch
// rejects, and DMARC stays fail throughout.
func TestARCOverrideBranches(t *testing.T) {
	f := newARCFixture(t)
	good := listHop(t, f.list, listMsg, "lists.test; spf=pass smtp.mailfrom=ceo@reject.test; dmarc=pass header.from=reject.test")
	other := listHop(t, f.list, listMsg, "lists.test; dmarc=pass header.from=other.test")
	dkimOnly := listHop(t, f.list, listMsg, "lists.test; dkim=pass header.d=mail.reject.test; dmarc=fail header.from=reject.test")
	broken := strings.Replace(good, "list footer", "list footer, changed", 1)
	for _, c := range []struct {
		name    string
		trusted []string
		msg     string
		action  policy.Action
		arc     arc.Status
		header  []string
	}{
		{"no chain", []string{"lists.test"}, listMsg, policy.Reject, arc.None, nil},
		{"untrusted sealer", []string{"other.test"}, good, policy.Reject, arc.Pass,
			[]string{"arc=pass (i=1 lists.test) header.oldest-pass=0 smtp.remote-ip=198.51.100.9"}},
		{"broken chain", []string{"lists.test"}, broken, policy.Reject, arc.Fail,
			[]string{"arc=fail (ARC-Message-Signature i=1: body hash did not verify)"}},
		{"no AAR pass for this domain", []string{"lists.test"}, other, policy.Reject, arc.Pass, nil},
		{"trusted, DMARC pass recorded", []string{"lists.test"}, good, policy.Quarantine, arc.Pass,
			[]string{"dmarc=fail (overridden: trusted ARC sealer lists.test)", "arc=pass (trusted sealer lists.test)"}},
		{"trusted parent domain, aligned DKIM pass recorded", []string{"test."}, dkimOnly, policy.Quarantine, arc.Pass, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ARC.TrustedSealers = c.trusted
			m, r := f.evaluate(t, cfg, c.msg)
			if (m.arc == nil) != (c.arc == arc.None) || m.sealBody != nil {
				t.Errorf("verifier %v, seal body hash %v: a message without ARC fields, not sealed, must cost nothing", m.arc, m.sealBody)
			}
			if r.Decision.Action != c.action || r.ARC.Result != c.arc || r.DMARC.Result != "fail" {
				t.Fatalf("action %s arc %+v dmarc %s (%s)", r.Decision.Action, r.ARC, r.DMARC.Result, r.Decision.Reason)
			}
			if (c.action == policy.Quarantine) != (r.Decision.Override.Kind == policy.OverrideARC) {
				t.Errorf("override %+v", r.Decision.Override)
			}
			h := strings.Join(strings.Fields(r.Header), " ")
			if c.arc == arc.None && strings.Contains(h, "; arc=") {
				t.Errorf("arc= without ARC fields: %s", h)
			}
			for _, want := range c.header {
				if !strings.Contains(h, want) {
					t.Errorf("header lacks %q:\n%s", want, h)
				}
			}
		})
	}
}

// TestARCTemporaryDNS: the trusted sealer's key lookup failing
// temporarily fails the chain (RFC 8617 §5.2.1), and the DMARC reject
// becomes a tempfail; for an untrusted sealer it stays a reject.
func TestARCTemporaryDNS(t *testing.T) {
	f := newARCFixture(t)
	good := listHop(t, f.list, listMsg, "lists.test; dmarc=pass header.from=reject.test")
	f.srv.ServFail("s1._domainkey.lists.test")
	for _, c := range []struct {
		trusted string
		want    policy.Action
	}{{"lists.test", policy.Tempfail}, {"other.test", policy.Reject}} {
		cfg := DefaultConfig()
		cfg.ARC.TrustedSealers = []string{c.trusted}
		_, r := f.evaluate(t, cfg, good)
		if r.ARC.Result != arc.Fail || !r.ARC.Temporary || r.Decision.Action != c.want {
			t.Errorf("trusted %s: action %s, arc %+v", c.trusted, r.Decision.Action, r.ARC)
		}
	}

	// Delivered (never reject), such a chain is not sealed with cv=fail:
	// that would end a chain that may verify once DNS answers.
	keyFile := filepath.Join(t.TempDir(), "arc.pem")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	cfg := DefaultConfig()
	cfg.Policy.RejectAction = policy.Quarantine
	cfg.ARC.Seal = ARCSealConfig{Domain: "mx.example", Selector: "arc", Key: keyFile}
	m, r := f.evaluate(t, cfg, good)
	if set, err := m.Seal(r); set != nil || !errors.Is(err, arc.ErrNoSeal) || !r.ARC.Temporary {
		t.Errorf("sealed a chain that failed on DNS: %+v %v", set, err)
	}
}

// TestARCSeal: with [arc.seal], a delivered message gets a second ARC set
// (cv=pass from our verification) whose chain verifies, and its AAR is
// our Authentication-Results; a rejected message is not sealed.
func TestARCSeal(t *testing.T) {
	f := newARCFixture(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyFile := filepath.Join(t.TempDir(), "arc.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, _ := dkim.KeyRecord(priv)
	if err := f.srv.Add(zoneTXT("arc._domainkey.mx.example", rec)); err != nil {
		t.Fatal(err)
	}
	_ = pub
	good := listHop(t, f.list, listMsg, "lists.test; dmarc=pass header.from=reject.test")
	cfg := DefaultConfig()
	cfg.ARC.TrustedSealers = []string{"lists.test"}
	cfg.ARC.Seal = ARCSealConfig{Domain: "mx.example", Selector: "arc", Key: keyFile}
	m, r := f.evaluate(t, cfg, good)
	set, err := m.Seal(r)
	if err != nil || set == nil {
		t.Fatalf("Seal: %v %v", set, err)
	}
	if set.Instance != 2 || !strings.Contains(set.Seal, "cv=pass") || set.AAR != "i=2; "+r.Header {
		t.Errorf("set %+v", set)
	}
	delivered := "ARC-Seal: " + set.Seal + "\r\nARC-Message-Signature: " + set.AMS + "\r\nARC-Authentication-Results: " +
		set.AAR + "\r\nAuthentication-Results: " + r.Header + "\r\n" + good
	res, err := arc.Verify(context.Background(), arc.Options{Resolver: f.res}, strings.NewReader(delivered))
	if err != nil || res.Result != arc.Pass || res.Instances != 2 || res.Sealers[0].Domain != "mx.example" {
		t.Fatalf("our seal: %+v %v", res, err)
	}

	// Without the trust, the message is rejected: nothing to seal.
	cfg.ARC.TrustedSealers = nil
	m, r = f.evaluate(t, cfg, good)
	if set, err := m.Seal(r); r.Decision.Action != policy.Reject || set != nil || err != nil {
		t.Errorf("rejected message: %s, seal %v %v", r.Decision.Action, set, err)
	}
	// Without ARC fields, sealing still records arc=none and cv=none.
	cfg.Policy.RejectAction = policy.Quarantine
	m, r = f.evaluate(t, cfg, listMsg)
	set, err = m.Seal(r)
	if err != nil || set == nil || set.Instance != 1 || !strings.Contains(set.Seal, "cv=none") || !strings.Contains(r.Header, "arc=none") {
		t.Errorf("first seal: %+v %v, header %q", set, err, r.Header)
	}
}

func TestARCConfigValidated(t *testing.T) {
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.ARC.TrustedSealers = []string{"bad domain"} }, "arc.trusted_sealers"},
		{func(c *Config) { c.ARC.Seal.Domain = "mx.example" }, "arc.seal"},
	} {
		cfg := DefaultConfig()
		cfg.AuthservID = "mx.example"
		c.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error naming %s", err, c.want)
		}
	}
	cfg := DefaultConfig()
	cfg.AuthservID = "mx.example"
	cfg.ARC.Seal = ARCSealConfig{Domain: "mx.example", Selector: "arc", Key: "/nonexistent.pem"}
	if _, err := New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "arc.seal.key") {
		t.Errorf("missing key file: %v", err)
	}
}

// TestARCHeaderTooLargeFails: a header past what DKIM splits (its own
// 1 MiB bound, below a raised limits.max_header_bytes) cannot be
// verified: a chain there is a fail, never none.
func TestARCHeaderTooLargeFails(t *testing.T) {
	f := newARCFixture(t)
	good := listHop(t, f.list, listMsg, "lists.test; dmarc=pass header.from=reject.test")
	big := "X-Big: " + strings.Repeat("x", dkim.MaxHeaderBytes) + "\r\n" + good
	cfg := DefaultConfig()
	cfg.Limits.MaxHeaderBytes = 4 << 20
	_, r := f.evaluate(t, cfg, big)
	if r.ARC.Result != arc.Fail || !strings.Contains(r.ARC.Reason, "not verifiable") {
		t.Fatalf("arc %+v", r.ARC)
	}
}

// TestARCSealEd25519Warned: an Ed25519 [arc.seal] key works (our verifier
// takes it) but is warned about at start and reload, since the ARC
// verifiers in use (dkimpy's arc_verify) accept only rsa-sha256 seals; an
// RSA key is not.
func TestARCSealEd25519Warned(t *testing.T) {
	dir := t.TempDir()
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, c := range []struct {
		key  any
		warn bool
	}{{edKey, true}, {rsaKey, false}} {
		der, _ := x509.MarshalPKCS8PrivateKey(c.key)
		keyFile := filepath.Join(dir, "arc.pem")
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.ARC.Seal = ARCSealConfig{Domain: "mx.example", Selector: "arc", Key: keyFile}
		var buf strings.Builder
		if _, err := New(cfg, nil, slog.New(slog.NewTextHandler(&buf, nil))); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(buf.String(), "level=WARN") && strings.Contains(buf.String(), "Ed25519"); got != c.warn {
			t.Errorf("%T: warned %v, want %v (log %q)", c.key, got, c.warn, buf.String())
		}
	}
}

// TestARCCostsNothingWithoutARCFields: for a message without ARC fields
// (and sealing off), the ARC steps at the end of the header, per body
// chunk and at the end of the message allocate nothing and start no
// verifier, trusted sealers or not.
func TestARCCostsNothingWithoutARCFields(t *testing.T) {
	f := newARCFixture(t)
	cfg := DefaultConfig()
	cfg.ARC.TrustedSealers = []string{"lists.test"}
	m, r := f.evaluate(t, cfg, listMsg)
	if m.arc != nil || m.sealBody != nil || r.ARC.Result != arc.None {
		t.Fatalf("verifier %v, seal hash %v, result %+v", m.arc, m.sealBody, r.ARC)
	}
	ctx := context.Background()
	chunk := []byte("hello\r\n")
	if n := testing.AllocsPerRun(100, func() {
		m.startARC()
		m.arcBody(chunk)
		if m.arcResult(ctx).Result != arc.None {
			t.Fatal("not none")
		}
	}); n != 0 {
		t.Errorf("%.1f allocations", n)
	}
}
