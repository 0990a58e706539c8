package arc

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
)

// testSealer adds ARC sets to messages for tests: a minimal sealer written
// apart from Signer, so that the verifier is not only tested against the
// sealer it shares code with.
type testSealer struct {
	domain, sel string
	key         crypto.Signer
	algo        string
}

func newTestSealer(t testing.TB, domain, sel string, z zone) *testSealer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	z[sel+"._domainkey."+domain] = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	return &testSealer{domain: domain, sel: sel, key: k, algo: "rsa-sha256"}
}

func newEd25519Sealer(t testing.TB, domain, sel string, z zone) *testSealer {
	t.Helper()
	pub, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	z[sel+"._domainkey."+domain] = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	return &testSealer{domain: domain, sel: sel, key: k, algo: "ed25519-sha256"}
}

func (s *testSealer) sign(t testing.TB, buf []byte) string {
	t.Helper()
	h := sha256.Sum256(buf[:len(buf)-2])
	var opts crypto.SignerOpts = crypto.SHA256
	if s.algo == "ed25519-sha256" {
		opts = crypto.Hash(0) // RFC 8463 §3: Ed25519 over the SHA-256 hash
	}
	sig, err := s.key.Sign(rand.Reader, h[:], opts)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// seal returns msg (CRLF) with a new ARC set on top, cv as given.
func (s *testSealer) seal(t testing.TB, msg, cv string) string {
	t.Helper()
	fields, body := SplitHeader([]byte(msg))
	sets, err := collect(fields)
	if err != nil {
		t.Fatal(err)
	}
	i := len(sets) + 1
	bh := dkim.NewBodyHasher(true, -1)
	bh.Write(body)
	sum, _, _ := bh.Sum()
	aar := fmt.Sprintf("ARC-Authentication-Results: i=%d; mx.%s; spf=pass smtp.mailfrom=example.com\r\n", i, s.domain)
	names := []string{"from", "to", "subject", "date", "arc-authentication-results"}
	ams := fmt.Sprintf("ARC-Message-Signature: i=%d; a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n\th=%s; bh=%s; b=",
		i, s.algo, s.domain, s.sel, strings.Join(names, ":"), base64.StdEncoding.EncodeToString(sum))
	all := append([]string{aar}, fields...)
	var buf []byte
	for _, n := range names {
		for j := len(all) - 1; j >= 0; j-- {
			if fieldNameIs(all[j], n) {
				buf = dkim.AppendCanonHeader(buf, all[j], true)
				break
			}
		}
	}
	buf = dkim.AppendCanonHeader(buf, ams+"\r\n", true)
	ams += s.sign(t, buf) + "\r\n"
	as := fmt.Sprintf("ARC-Seal: i=%d; a=%s; cv=%s; d=%s; s=%s; t=12345; b=", i, s.algo, cv, s.domain, s.sel)
	buf = buf[:0]
	for _, st := range sets {
		for _, f := range []string{st.aar, st.ams, st.seal} {
			buf = dkim.AppendCanonHeader(buf, f, true)
		}
	}
	buf = dkim.AppendCanonHeader(buf, aar, true)
	buf = dkim.AppendCanonHeader(buf, ams, true)
	buf = dkim.AppendCanonHeader(buf, as+"\r\n", true)
	as += s.sign(t, buf) + "\r\n"
	return as + ams + aar + msg
}

const baseMsg = "From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\nDate: Mon, 7 Dec 2026 16:00:00 +0000\r\n\r\n"

// chain3 returns a message with a body of bodyLen octets sealed three
// times, and the zone holding the three keys.
func chain3(t testing.TB, bodyLen int) (string, zone) {
	t.Helper()
	z := zone{}
	body := strings.Repeat(strings.Repeat("x", 70)+"\r\n", bodyLen/72+1)[:bodyLen]
	msg := baseMsg + body
	for i, d := range []string{"one.example", "two.example", "three.example"} {
		cv := "pass"
		if i == 0 {
			cv = "none"
		}
		msg = newTestSealer(t, d, "s1", z).seal(t, msg, cv)
	}
	return msg, z
}

func TestThreeInstanceChain(t *testing.T) {
	msg, z := chain3(t, 10<<10)
	res, err := Verify(context.Background(), Options{Resolver: z}, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != Pass || res.Instances != 3 || res.OldestPass != 0 || len(res.Sealers) != 3 {
		t.Fatalf("got %+v", res)
	}
	for i, s := range res.Sealers {
		if s.Instance != 3-i || s.Result != Pass || s.Selector != "s1" {
			t.Errorf("sealer %d: %+v", i, s)
		}
	}
	if res.Sealers[0].Domain != "three.example" {
		t.Errorf("newest sealer %q", res.Sealers[0].Domain)
	}
}

// TestStreamingMatchesWhole feeds the body in chunks of every size 1..97
// and expects the whole-message result.
func TestStreamingMatchesWhole(t *testing.T) {
	msg, z := chain3(t, 3000)
	fields, body := SplitHeader([]byte(msg))
	for size := 1; size < 98; size += 8 {
		v := NewVerifier(Options{Resolver: z}, fields)
		v.Lookup(context.Background()) // keys while the body streams
		for b := body; len(b) > 0; b = b[min(size, len(b)):] {
			v.Write(b[:min(size, len(b))])
		}
		if res := v.Result(context.Background()); res.Result != Pass {
			t.Fatalf("chunk %d: %+v", size, res)
		}
	}
}

// TestOldestPass: a body changed after the first two seals leaves only the
// newest AMS verifying, so the chain passes with oldest-pass 3 (RFC 8617
// §5.2 step 5); a change after the newest seal fails the chain.
func TestOldestPass(t *testing.T) {
	z := zone{}
	msg := baseMsg + "body\r\n"
	msg = newTestSealer(t, "one.example", "s1", z).seal(t, msg, "none")
	msg = newTestSealer(t, "two.example", "s1", z).seal(t, msg, "pass")
	msg += "footer\r\n"
	msg = newTestSealer(t, "three.example", "s1", z).seal(t, msg, "pass")
	res, _ := Verify(context.Background(), Options{Resolver: z}, strings.NewReader(msg))
	if res.Result != Pass || res.OldestPass != 3 {
		t.Fatalf("got %+v", res)
	}
	res, _ = Verify(context.Background(), Options{Resolver: z}, strings.NewReader(msg+"more\r\n"))
	if res.Result != Fail || !strings.Contains(res.Reason, "body hash") || res.Temporary {
		t.Fatalf("modified: got %+v", res)
	}
}

// servfail answers like z but fails temporarily for the names in bad.
type servfail struct {
	zone
	bad map[string]bool
}

func (s servfail) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if s.bad[name] {
		return nil, dns.NewError(dns.ErrTimeout, name)
	}
	return s.zone.LookupTXT(ctx, name)
}

// TestTemporaryDNS: a chain failing only because a key lookup timed out is
// fail with Temporary set; with another, permanent failure too it is not.
func TestTemporaryDNS(t *testing.T) {
	msg, z := chain3(t, 100)
	r := servfail{zone: z, bad: map[string]bool{"s1._domainkey.two.example": true}}
	res, _ := Verify(context.Background(), Options{Resolver: r}, strings.NewReader(msg))
	if res.Result != Fail || !res.Temporary || !strings.Contains(res.Reason, "temporary DNS") {
		t.Fatalf("timeout only: got %+v", res)
	}
	if res.Sealers[1].Result != Fail || res.Sealers[0].Result != Pass {
		t.Errorf("sealers: %+v", res.Sealers)
	}
	delete(z, "s1._domainkey.one.example")
	res, _ = Verify(context.Background(), Options{Resolver: r}, strings.NewReader(msg))
	if res.Result != Fail || res.Temporary {
		t.Fatalf("timeout and missing key: got %+v", res)
	}
}

func TestStructure(t *testing.T) {
	msg, z := chain3(t, 100)
	fields, body := SplitHeader([]byte(msg))
	for _, tc := range []struct {
		name   string
		fields []string
		want   Status
	}{
		{"no ARC", []string{"From: a@example.com\r\n"}, None},
		{"missing AAR of i=2", without(fields, "ARC-Authentication-Results: i=2"), Fail},
		{"set i=1 dropped", without(without(without(fields, "ARC-Authentication-Results: i=1"), "ARC-Message-Signature: i=1"), "ARC-Seal: i=1"), Fail},
		{"duplicate seal", append([]string{fields[0]}, fields...), Fail},
		{"instance 51", append([]string{"ARC-Seal: i=51; a=rsa-sha256; cv=pass; d=x; s=y; b=AA==\r\n"}, fields...), Fail},
	} {
		v := NewVerifier(Options{Resolver: z}, tc.fields)
		v.Write(body)
		if res := v.Result(context.Background()); res.Result != tc.want || (tc.want == Fail && res.Reason == "") {
			t.Errorf("%s: got %+v", tc.name, res)
		}
	}
}

// without returns fields minus those starting with prefix.
func without(fields []string, prefix string) []string {
	var out []string
	for _, f := range fields {
		if !strings.HasPrefix(f, prefix) {
			out = append(out, f)
		}
	}
	return out
}

// BenchmarkVerify verifies a 3-instance chain on a 10 KB message (keys from
// an in-memory zone through a key cache, as in production).
func BenchmarkVerify(b *testing.B) {
	msg, z := chain3(b, 10<<10)
	fields, body := SplitHeader([]byte(msg))
	opts := Options{Resolver: z, Keys: dkim.NewKeyCache(0)}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		v := NewVerifier(opts, fields)
		v.Write(body)
		if res := v.Result(context.Background()); res.Result != Pass {
			b.Fatal(res)
		}
	}
}

// fieldNameIs reports whether raw field f is named name (ASCII case
// folded, RFC 5322 §1.2.2).
func fieldNameIs(f, name string) bool {
	n, _, ok := strings.Cut(f, ":")
	return ok && strings.EqualFold(strings.TrimRight(n, " \t"), name)
}

// TestContextEnds: lookups that never answer end with the context, as a
// temporary failure.
func TestContextEnds(t *testing.T) {
	msg, _ := chain3(t, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res, _ := Verify(ctx, Options{Resolver: hang{}}, strings.NewReader(msg))
	if res.Result != Fail || !res.Temporary {
		t.Fatalf("got %+v", res)
	}
}

// hang never answers before the context ends.
type hang struct{}

func (hang) LookupTXT(ctx context.Context, _ string) ([]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestEd25519 verifies a chain sealed with Ed25519 (RFC 8463) over an RSA
// instance, and fails an ed25519-sha256 seal whose key is RSA.
func TestEd25519(t *testing.T) {
	z := zone{}
	msg := newTestSealer(t, "one.example", "s1", z).seal(t, baseMsg+"body\r\n", "none")
	msg = newEd25519Sealer(t, "two.example", "ed", z).seal(t, msg, "pass")
	res, _ := Verify(context.Background(), Options{Resolver: z}, strings.NewReader(msg))
	if res.Result != Pass || res.Instances != 2 {
		t.Fatalf("got %+v", res)
	}
	z["ed._domainkey.two.example"] = z["s1._domainkey.one.example"]
	res, _ = Verify(context.Background(), Options{Resolver: z}, strings.NewReader(msg))
	if res.Result != Fail || !strings.Contains(res.Reason, "key type") {
		t.Fatalf("RSA key for ed25519-sha256: got %+v", res)
	}
}
