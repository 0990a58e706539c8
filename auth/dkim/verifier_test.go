//go:debug rsa1024min=0

package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	msgauth "github.com/emersion/go-msgauth/dkim"
)

// (The go:debug line above lets this test binary make a 512-bit RSA key, to
// check that such keys are refused by policy.)

const testMessage = "From: Joe <joe@example.com>\r\nTo: Suzie <suzie@example.net>\r\n" +
	"Subject: test\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n\r\nHi.\r\n\r\nWe lost the game.\r\n"

var testEdKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))

// sign prepends a go-msgauth signature to msg.
func sign(t testing.TB, msg, domain, selector string, key crypto.Signer, mod func(*msgauth.SignOptions)) string {
	t.Helper()
	o := &msgauth.SignOptions{Domain: domain, Selector: selector, Signer: key,
		HeaderCanonicalization: "relaxed", BodyCanonicalization: "relaxed"}
	if mod != nil {
		mod(o)
	}
	var out bytes.Buffer
	if err := msgauth.Sign(&out, strings.NewReader(msg), o); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// keyRecord returns the TXT record text for key.
func keyRecordFor(t testing.TB, key crypto.Signer, extra string) string {
	t.Helper()
	switch pub := key.Public().(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; " + extra + "p=" + base64.StdEncoding.EncodeToString(pub)
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; " + extra + "p=" + base64.StdEncoding.EncodeToString(der)
	}
	t.Fatal("unknown key")
	return ""
}

func one(t *testing.T, got []Result) Result {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%d results, want 1: %+v", len(got), got)
	}
	return got[0]
}

func TestRules(t *testing.T) {
	rsa1024 := loadPrivateKey(t, "testdata/dkim-dkimpy/test.private")
	rsa512, err := rsa.GenerateKey(rand.Reader, 512)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name    string
		key     crypto.Signer
		record  string // extra key record tags
		mod     func(*msgauth.SignOptions)
		opts    Options
		result  Status
		reason  string
		keyBits int
	}{
		{name: "ed25519 passes", key: testEdKey, result: Pass, keyBits: 256},
		{name: "rsa 1024 passes", key: rsa1024, result: Pass, keyBits: 1024},
		{name: "rsa 512 is policy", key: rsa512, result: Policy, reason: "rsa key too short (512 bits)", keyBits: 512},
		{name: "MinRSABits 2048", key: rsa1024, opts: Options{MinRSABits: 2048}, result: Policy,
			reason: "rsa key too short (1024 bits)", keyBits: 1024},
		{name: "MinRSABits below 1024 is raised", key: rsa512, opts: Options{MinRSABits: 512}, result: Policy,
			reason: "rsa key too short (512 bits)", keyBits: 512},
		{name: "key h=sha1 only", key: rsa1024, record: "h=sha1; ", result: Policy, reason: reasonSHA1, keyBits: 1024},
		{name: "key h=sha256", key: rsa1024, record: "h=sha1:sha256; ", result: Pass, keyBits: 1024},
		{name: "key h=md5", key: rsa1024, record: "h=md5; ", result: PermError, reason: "key h= excludes sha256", keyBits: 1024},
		{name: "key s=chat", key: testEdKey, record: "s=chat; ", result: PermError, reason: "key s= excludes email", keyBits: 256},
		{name: "key t=y", key: testEdKey, record: "t=y; ", result: Pass, keyBits: 256},
		{name: "key t=s, i= in subdomain", key: testEdKey, record: "t=s; ",
			mod:    func(o *msgauth.SignOptions) { o.Identifier = "joe@sub.example.com" },
			result: PermError, reason: "i= domain must equal d= (key t=s)", keyBits: 256},
		{name: "expired", key: testEdKey, mod: func(o *msgauth.SignOptions) { o.Expiration = now.Add(-time.Hour) },
			result: Fail, reason: "signature expired", keyBits: 0},
		{name: "not yet expired", key: testEdKey, mod: func(o *msgauth.SignOptions) { o.Expiration = now.Add(time.Hour) },
			result: Pass, keyBits: 256},
		{name: "expired per Options.Now", key: testEdKey, mod: func(o *msgauth.SignOptions) { o.Expiration = now.Add(time.Hour) },
			opts: Options{Now: func() time.Time { return now.Add(2 * time.Hour) }}, result: Fail, reason: "signature expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newFakeResolver()
			r.add("sel._domainkey.example.com", keyRecordFor(t, tc.key, tc.record))
			msg := sign(t, testMessage, "example.com", "sel", tc.key, tc.mod)
			opts := tc.opts
			opts.Resolver = r
			got := one(t, verifyAllChunkings(t, []byte(msg), opts))
			if got.Result != tc.result || got.Reason != tc.reason {
				t.Errorf("got %s %q, want %s %q", got.Result, got.Reason, tc.result, tc.reason)
			}
			if got.KeyBits != tc.keyBits && tc.result != Fail {
				t.Errorf("KeyBits %d, want %d", got.KeyBits, tc.keyBits)
			}
			if got.Testing != strings.Contains(tc.record, "t=y") {
				t.Errorf("Testing %v", got.Testing)
			}
			if got.Domain != "example.com" || got.Selector != "sel" || len(got.HeaderB) != 8 {
				t.Errorf("descriptive fields: %+v", got)
			}
		})
	}
}

func TestKeyLookupFailures(t *testing.T) {
	msg := sign(t, testMessage, "example.com", "sel", testEdKey, nil)
	rec := keyRecordFor(t, testEdKey, "")
	tests := []struct {
		name   string
		setup  func(r *fakeResolver)
		result Status
		reason string
	}{
		{"nxdomain", func(r *fakeResolver) {}, PermError, "no key record"},
		{"nodata", func(r *fakeResolver) { r.fail("sel._domainkey.example.com", dns.ErrNoData) }, PermError, "no key record"},
		{"servfail", func(r *fakeResolver) { r.fail("sel._domainkey.example.com", dns.ErrServFail) }, TempError, "key lookup: server failure"},
		{"timeout", func(r *fakeResolver) { r.fail("sel._domainkey.example.com", dns.ErrTimeout) }, TempError, "key lookup: timeout"},
		{"refused", func(r *fakeResolver) { r.fail("sel._domainkey.example.com", dns.ErrRefused) }, TempError, ""},
		{"two records", func(r *fakeResolver) { r.add("sel._domainkey.example.com", rec, rec) }, PermError, "several key records"},
		{"revoked", func(r *fakeResolver) { r.add("sel._domainkey.example.com", "v=DKIM1; k=ed25519; p=") }, PermError, "key revoked"},
		{"wrong key type", func(r *fakeResolver) {
			r.add("sel._domainkey.example.com", strings.TrimSpace(string(readFile(t, "testdata/dkim-dkimpy/test.txt"))))
		}, PermError, "key type k=rsa does not match a="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newFakeResolver()
			tc.setup(r)
			got := one(t, verifyAllChunkings(t, []byte(msg), Options{Resolver: r}))
			if got.Result != tc.result || (tc.reason != "" && got.Reason != tc.reason) {
				t.Errorf("got %s %q, want %s %q", got.Result, got.Reason, tc.result, tc.reason)
			}
			if q := r.count("sel._domainkey.example.com"); q != len(chunkings) { // one per chunking
				t.Errorf("%d queries for %d verifications: one lookup per key", q, len(chunkings))
			}
		})
	}
}

// TestDNSServer runs the real resolver against the in-process DNS server:
// a key served there passes, SERVFAIL and a dropped query end as temperror.
func TestDNSServer(t *testing.T) {
	srv, err := dnstest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rec := keyRecordFor(t, testEdKey, "")
	for _, name := range []string{"ok", "sf", "drop"} {
		if err := srv.Add(fmt.Sprintf("%s._domainkey.example.com. 300 IN TXT %q", name, rec)); err != nil {
			t.Fatal(err)
		}
	}
	srv.ServFail("sf._domainkey.example.com")
	srv.Drop("drop._domainkey.example.com")
	res, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for sel, want := range map[string]Status{"ok": Pass, "sf": TempError, "drop": TempError, "none": PermError} {
		msg := sign(t, testMessage, "example.com", sel, testEdKey, nil)
		got := one(t, Verify(context.Background(), strings.NewReader(msg), Options{Resolver: res}))
		if got.Result != want {
			t.Errorf("selector %s: got %s (%s), want %s", sel, got.Result, got.Reason, want)
		}
	}
}

func TestSignatureLimit(t *testing.T) {
	r := newFakeResolver()
	msg := testMessage
	for i := 12; i >= 1; i-- { // sel1 ends on top
		sel := fmt.Sprintf("sel%d", i)
		r.add(sel+"._domainkey.example.com", keyRecordFor(t, testEdKey, ""))
		msg = sign(t, msg, "example.com", sel, testEdKey, nil)
	}
	got := Verify(context.Background(), strings.NewReader(msg), Options{Resolver: r})
	if len(got) != 12 {
		t.Fatalf("%d results, want 12", len(got))
	}
	for i, res := range got {
		want, reason := Pass, ""
		if i >= DefaultMaxSignatures {
			want, reason = Policy, reasonLimit
		}
		if res.Result != want || res.Reason != reason || res.Selector != fmt.Sprintf("sel%d", i+1) {
			t.Errorf("signature %d: %+v, want %s %q", i, res, want, reason)
		}
	}
	if q := r.count("sel11._domainkey.example.com") + r.count("sel12._domainkey.example.com"); q != 0 {
		t.Errorf("%d queries for signatures beyond the limit", q)
	}
	got = Verify(context.Background(), strings.NewReader(msg), Options{Resolver: r, MaxSignatures: 2})
	if got[1].Result != Pass || got[2].Result != Policy {
		t.Errorf("MaxSignatures 2: %+v", got[:3])
	}
}

// signalResolver reports each lookup on a channel, then blocks until
// released or the context ends.
type signalResolver struct {
	called  chan string
	release chan struct{}
	txt     string
}

func (s *signalResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	s.called <- name
	select {
	case <-s.release:
		return []string{s.txt}, nil
	case <-ctx.Done():
		return nil, dns.NewError(dns.ErrTimeout, name)
	}
}

// TestLookupAtHeaderEnd: the key lookup starts when the header block ends,
// before any body byte is written.
func TestLookupAtHeaderEnd(t *testing.T) {
	msg := sign(t, testMessage, "example.com", "sel", testEdKey, nil)
	hdr, body, _ := strings.Cut(msg, "\r\n\r\n")
	r := &signalResolver{called: make(chan string, 4), release: make(chan struct{}), txt: keyRecordFor(t, testEdKey, "")}
	v := NewVerifier(context.Background(), Options{Resolver: r})
	v.Write([]byte(hdr + "\r\n\r\n"))
	if name := <-r.called; name != "sel._domainkey.example.com" {
		t.Fatalf("lookup of %q", name)
	}
	close(r.release)
	v.Write([]byte(body))
	if got := one(t, v.Close()); got.Result != Pass {
		t.Fatalf("got %+v", got)
	}
	if again := v.Close(); len(again) != 1 || again[0].Result != Pass {
		t.Errorf("second Close: %+v", again)
	}
}

// TestAbort: aborting a message whose lookups hang leaves no goroutine.
func TestAbort(t *testing.T) {
	msg := testMessage
	for i := range 3 {
		msg = sign(t, msg, "example.com", fmt.Sprintf("s%d", i), testEdKey, nil)
	}
	hdr, _, _ := strings.Cut(msg, "\r\n\r\n")
	before := runtime.NumGoroutine()
	for range 20 {
		r := &signalResolver{called: make(chan string, 8), release: make(chan struct{})}
		v := NewVerifier(context.Background(), Options{Resolver: r})
		v.Write([]byte(hdr + "\r\n\r\n"))
		<-r.called
		v.Abort()
		v.Abort()
	}
	checkGoroutinesBack(t, before)
}

func TestHeaderEdgeCases(t *testing.T) {
	r := newFakeResolver()
	r.add("sel._domainkey.example.com", keyRecordFor(t, testEdKey, ""))
	opts := Options{Resolver: r}
	signed := sign(t, testMessage, "example.com", "sel", testEdKey, nil)

	if got := Verify(context.Background(), strings.NewReader(testMessage), opts); got == nil || len(got) != 0 {
		t.Errorf("unsigned: %#v, want empty", got)
	}
	if got := Verify(context.Background(), strings.NewReader(""), opts); len(got) != 0 {
		t.Errorf("empty message: %#v", got)
	}
	// Header only, no empty line: verified with an empty body.
	hdr, _, _ := strings.Cut(sign(t, "From: a@example.com\r\n\r\n", "example.com", "sel", testEdKey, nil), "\r\n\r\n")
	if got := one(t, Verify(context.Background(), strings.NewReader(hdr), opts)); got.Result != Pass {
		t.Errorf("header only: %+v", got)
	}
	// A header block over MaxHeaderBytes: not verified.
	big := strings.Replace(signed, "Subject: test\r\n", "Subject: test\r\nX-Big: "+strings.Repeat("x", MaxHeaderBytes)+"\r\n", 1)
	if got := one(t, verifyChunked([]byte(big), 64<<10, false, opts)); got.Result != PermError || got.Reason != "header block too large" {
		t.Errorf("big header: %+v", got)
	}
	if got := verifyChunked([]byte("X: "+strings.Repeat("y", 2*MaxHeaderBytes)), 1<<20, true, opts); len(got) != 0 {
		t.Errorf("big unsigned header: %+v", got)
	}
	// Bare LF line ends (tolerated).
	if got := one(t, Verify(context.Background(), strings.NewReader(strings.ReplaceAll(signed, "\r\n", "\n")), opts)); got.Result != Pass {
		t.Errorf("bare LF: %+v", got)
	}
}

func TestVerifyReadError(t *testing.T) {
	r := newFakeResolver()
	r.add("sel._domainkey.example.com", keyRecordFor(t, testEdKey, ""))
	msg := sign(t, testMessage, "example.com", "sel", testEdKey, nil)
	rd := io.MultiReader(strings.NewReader(msg[:len(msg)-5]), errReader{})
	if got := one(t, Verify(context.Background(), rd, Options{Resolver: r})); got.Result != TempError {
		t.Errorf("got %+v", got)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("disk on fire") }

// TestMixedSignatures: several signatures with different outcomes in one
// message, in header order.
func TestMixedSignatures(t *testing.T) {
	r := newFakeResolver()
	rec := keyRecordFor(t, testEdKey, "")
	r.add("relaxed._domainkey.example.com", rec)
	r.add("simple._domainkey.example.com", rec)
	r.fail("sf._domainkey.example.net", dns.ErrServFail)
	msg := sign(t, testMessage, "example.net", "sf", testEdKey, nil)
	msg = sign(t, msg, "example.com", "simple", testEdKey, func(o *msgauth.SignOptions) { o.BodyCanonicalization = "simple" })
	msg = sign(t, msg, "example.com", "relaxed", testEdKey, nil)
	// Whitespace changes in the body: relaxed survives, simple does not.
	msg = strings.Replace(msg, "We lost the game.", "We lost  the game.  ", 1)
	got := verifyAllChunkings(t, []byte(msg), Options{Resolver: r})
	want := []struct {
		sel    string
		result Status
	}{{"relaxed", Pass}, {"simple", Fail}, {"sf", TempError}}
	if len(got) != len(want) {
		t.Fatalf("%d results: %+v", len(got), got)
	}
	for i, w := range want {
		if got[i].Selector != w.sel || got[i].Result != w.result {
			t.Errorf("signature %d: %+v, want s=%s %s", i, got[i], w.sel, w.result)
		}
	}
}

// TestAbortMidBody: Abort after part of the body leaves no goroutine.
func TestAbortMidBody(t *testing.T) {
	r := newFakeResolver()
	r.add("a._domainkey.example.com", keyRecordFor(t, testEdKey, ""))
	r.add("b._domainkey.example.com", keyRecordFor(t, testEdKey, ""))
	msg := sign(t, sign(t, testMessage, "example.com", "a", testEdKey, nil), "example.com", "b", testEdKey, nil)
	before := runtime.NumGoroutine()
	for range 20 {
		v := NewVerifier(context.Background(), Options{Resolver: r})
		v.Write([]byte(msg[:len(msg)-10]))
		v.Abort()
		if res := v.Close(); len(res) != 0 {
			t.Fatalf("Close after Abort: %+v", res)
		}
	}
	checkGoroutinesBack(t, before)
}

func TestNilResolver(t *testing.T) {
	msg := sign(t, testMessage, "example.com", "sel", testEdKey, nil)
	got := one(t, Verify(context.Background(), strings.NewReader(msg), Options{}))
	if got.Result != PermError || got.Reason != "key lookup: no resolver configured" {
		t.Errorf("got %+v", got)
	}
}

// checkGoroutinesBack fails the test unless the goroutine count comes back
// to before (exited goroutines may take a moment to be counted out).
func checkGoroutinesBack(t *testing.T, before int) {
	t.Helper()
	var after int
	for range 100 {
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("goroutines: %d before, %d after Abort\n%s", before, after, buf[:runtime.Stack(buf, true)])
}

// TestSplitFieldsPieces: a block whose lines all end in CRLF is split into
// pieces of one copy, the same fields splitFieldsCopy builds (and
// go-msgauth reads).
func TestSplitFieldsPieces(t *testing.T) {
	for _, hdr := range []string{
		"", "\r\n", "A: 1\r\n\r\n", "A: 1\r\nB: 2\r\n\r\nbody\r\n",
		"A: 1\r\n folded\r\n\tagain\r\nB: 2\r\n\r\n", " lead: x\r\nA: 1\r\n\r\n",
		"A: 1\r\nB: 2\r\n", "A: 1\r\n \r\n\r\n", "A: 1\nB: 2\r\n\r\n", "A: 1\r\r\n\r\n",
	} {
		compareSplitFields(t, []byte(hdr))
	}
}

func compareSplitFields(t *testing.T, hdr []byte) {
	t.Helper()
	got, want := splitFields(hdr), splitFieldsCopy(hdr)
	if !slices.Equal(got, want) {
		t.Fatalf("splitFields(%q) = %q, want %q", hdr, got, want)
	}
}

func FuzzSplitFields(f *testing.F) {
	f.Add([]byte("A: 1\r\n folded\r\nB: 2\r\n\r\n"))
	f.Add([]byte("A: 1\nB:\r\n\t2\r\n\r\n"))
	f.Fuzz(func(t *testing.T, hdr []byte) { compareSplitFields(t, hdr) })
}
