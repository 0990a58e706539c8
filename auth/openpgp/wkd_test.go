package openpgp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/mime"
)

// Test vector of draft-koch-openpgp-webkey-service §3.1.
func TestWKDHash(t *testing.T) {
	if got := WKDHash("Joe.Doe"); got != "iy9q119eutrkn8s1mk4r39qejnbu3n5q" {
		t.Errorf("WKDHash(Joe.Doe) = %s", got)
	}
	adv, direct, err := WKDURLs("Joe.Doe@Example.ORG")
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"; adv != want {
		t.Errorf("advanced = %s", adv)
	}
	if want := "https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"; direct != want {
		t.Errorf("direct = %s", direct)
	}
	for _, bad := range []string{"nobody", "@example.org", "a@", "a@exa/mple.org", "a@b:1"} {
		if _, _, err := WKDURLs(bad); err == nil {
			t.Errorf("WKDURLs(%q): no error", bad)
		}
	}
}

// wkdServer is a loopback HTTPS server that answers for the host names in
// hosts; other names do not exist. handler gets every request.
type wkdServer struct {
	srv   *httptest.Server
	hosts map[string]bool
	hits  atomic.Int32
}

func newWKDServer(t *testing.T, hosts []string, h http.HandlerFunc) *wkdServer {
	t.Helper()
	w := &wkdServer{hosts: map[string]bool{}}
	for _, n := range hosts {
		w.hosts[n] = true
	}
	w.srv = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		h(rw, r)
	}))
	w.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-certificate case's handshake error
	t.Cleanup(w.srv.Close)
	return w
}

// client returns an HTTP client that trusts the server's certificate (for
// every name: the test server's certificate is for example.com, so the
// name is checked against that) and dials the server for the known hosts.
func (w *wkdServer) client(trust bool) *http.Client {
	tr := w.srv.Client().Transport.(*http.Transport).Clone()
	if !trust {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.ServerName = "example.com"
	addr := w.srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, hostport string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(hostport)
		if !w.hosts[host] {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

func aliceKey(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../bodysig/testdata/keyring.asc")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wkdVerifier(c *http.Client, timeout time.Duration) *Verifier {
	return New(Options{Now: testClock, ByAddress: NewWKD(WKDOptions{Client: c, Timeout: timeout})})
}

func verifyPGPMIME(t *testing.T, v *Verifier, from string) mime.Result {
	t.Helper()
	content, sig := pgpMIME(t, "pgpmime.eml")
	h := NewHasher("pgp-sha256")
	h.Write(content)
	rs := v.VerifyDetached(context.Background(), "TEXT", sig, h, []string{from})
	if len(rs) != 1 {
		t.Fatalf("%d results: %+v", len(rs), rs)
	}
	return rs[0]
}

func TestWKDMethods(t *testing.T) {
	key := aliceKey(t)
	hash := WKDHash("alice")
	tests := []struct {
		name   string
		hosts  []string
		path   string // the path that has the key
		status mime.Status
		reason string
	}{
		{"advanced", []string{"openpgpkey.example.test", "example.test"},
			"/.well-known/openpgpkey/example.test/hu/" + hash, mime.StatusPass, "key from WKD"},
		{"direct when no openpgpkey host", []string{"example.test"},
			"/.well-known/openpgpkey/hu/" + hash, mime.StatusPass, "key from WKD"},
		{"direct after an advanced 404", []string{"openpgpkey.example.test", "example.test"},
			"/.well-known/openpgpkey/hu/" + hash, mime.StatusPass, "key from WKD"},
		{"not published", []string{"openpgpkey.example.test", "example.test"},
			"/elsewhere", mime.StatusNeutral, "no public key"},
		{"no host at all", nil, "/", mime.StatusNeutral, "no public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newWKDServer(t, tt.hosts, func(rw http.ResponseWriter, r *http.Request) {
				if r.URL.Path != tt.path || r.URL.Query().Get("l") != "Alice" {
					http.NotFound(rw, r)
					return
				}
				rw.Write(key)
			})
			r := verifyPGPMIME(t, wkdVerifier(s.client(true), 5*time.Second), "Alice@example.test")
			if r.Result != tt.status || !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("got %s (%s), want %s (%s)", r.Result, r.Reason, tt.status, tt.reason)
			}
		})
	}
}

func TestWKDFailures(t *testing.T) {
	key := aliceKey(t)
	hosts := []string{"openpgpkey.example.test"}
	tests := []struct {
		name    string
		h       http.HandlerFunc
		trust   bool
		timeout time.Duration
		from    string
		status  mime.Status
		reason  string
	}{
		{"server error", func(rw http.ResponseWriter, r *http.Request) { http.Error(rw, "busy", http.StatusServiceUnavailable) },
			true, 5 * time.Second, "alice@example.test", mime.StatusTemperror, "HTTP status 503"},
		{"timeout", func(rw http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, true, 200 * time.Millisecond, "alice@example.test", mime.StatusTemperror, "key lookup failed"},
		{"untrusted certificate", func(rw http.ResponseWriter, r *http.Request) { rw.Write(key) },
			false, 5 * time.Second, "alice@example.test", mime.StatusTemperror, "certificate"},
		{"key without the address", func(rw http.ResponseWriter, r *http.Request) { rw.Write(key) },
			true, 5 * time.Second, "bob@example.test", mime.StatusNeutral, "no public key"},
		{"too large", func(rw http.ResponseWriter, r *http.Request) {
			rw.Write(key)
			rw.Write([]byte(strings.Repeat("\n", 70<<10)))
		}, true, 5 * time.Second, "alice@example.test", mime.StatusNeutral, "no public key"},
		{"garbage", func(rw http.ResponseWriter, r *http.Request) { rw.Write([]byte("not a key")) },
			true, 5 * time.Second, "alice@example.test", mime.StatusNeutral, "no public key"},
		{"redirect to http", func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, "http://example.test/key", http.StatusFound)
		}, true, 5 * time.Second, "alice@example.test", mime.StatusTemperror, "redirect to a http URL"},
		{"redirect loop", func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, r.URL.String(), http.StatusFound)
		}, true, 5 * time.Second, "alice@example.test", mime.StatusTemperror, "redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newWKDServer(t, hosts, tt.h)
			start := time.Now()
			r := verifyPGPMIME(t, wkdVerifier(s.client(tt.trust), tt.timeout), tt.from)
			if r.Result != tt.status || !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("got %s (%s), want %s (%s)", r.Result, r.Reason, tt.status, tt.reason)
			}
			if time.Since(start) > 4*time.Second {
				t.Errorf("lookup took %s", time.Since(start))
			}
		})
	}
}

// The evaluation's context bounds a lookup too.
func TestWKDContext(t *testing.T) {
	s := newWKDServer(t, []string{"openpgpkey.example.test"}, func(rw http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	w := NewWKD(WKDOptions{Client: s.client(true), Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := w.KeysFor(ctx, "alice@example.test"); err == nil {
		t.Fatal("no error past the deadline")
	}
}

func TestWKDCache(t *testing.T) {
	key := aliceKey(t)
	var fail atomic.Bool
	s := newWKDServer(t, []string{"openpgpkey.example.test"}, func(rw http.ResponseWriter, r *http.Request) {
		switch {
		case fail.Load():
			http.Error(rw, "busy", http.StatusServiceUnavailable)
		case strings.Contains(r.URL.RawQuery, "l=alice"):
			rw.Write(key)
		default:
			http.NotFound(rw, r)
		}
	})
	now := testClock()
	w := NewWKD(WKDOptions{Client: s.client(true), MaxEntries: 2, Now: func() time.Time { return now }})
	ctx := context.Background()
	lookup := func(addr string, wantKeys int, wantHits int32) {
		t.Helper()
		el, err := w.KeysFor(ctx, addr)
		if err != nil || len(el) != wantKeys || s.hits.Load() != wantHits {
			t.Fatalf("%s: %d keys, err %v, %d requests; want %d keys, %d requests", addr, len(el), err, s.hits.Load(), wantKeys, wantHits)
		}
	}
	lookup("alice@example.test", 1, 1)
	lookup("ALICE@example.test", 1, 1) // cached
	lookup("bob@example.test", 0, 2)   // advanced 404; no direct host
	lookup("bob@example.test", 0, 2)   // not-found cached
	now = now.Add(11 * time.Minute)    // not-found expired, found not
	lookup("alice@example.test", 1, 2)
	lookup("bob@example.test", 0, 3)
	fail.Store(true)
	now = now.Add(2 * time.Hour)
	if _, err := w.KeysFor(ctx, "alice@example.test"); err == nil {
		t.Fatal("no error from a failing server")
	}
	fail.Store(false)
	lookup("alice@example.test", 1, 5) // the failure was not cached
	lookup("carol@example.test", 0, 6)
	lookup("dave@example.test", 0, 7)
	if n := w.cache.Len(); n > 2 {
		t.Errorf("%d cache entries, more than 2", n)
	}
}

// A key found in the keyring is used without a lookup.
func TestWKDKeyringFirst(t *testing.T) {
	s := newWKDServer(t, []string{"openpgpkey.example.test"}, func(rw http.ResponseWriter, r *http.Request) {})
	k := testVerifier(t).o.Keys
	v := New(Options{Keys: k, Now: testClock, ByAddress: NewWKD(WKDOptions{Client: s.client(true)})})
	if r := verifyPGPMIME(t, v, "alice@example.test"); r.Result != mime.StatusPass || r.Reason != "" {
		t.Errorf("got %s (%s)", r.Result, r.Reason)
	}
	if s.hits.Load() != 0 {
		t.Errorf("%d WKD requests for a key in the keyring", s.hits.Load())
	}
}

func TestWKDPublicAddressOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:443": false, "[::1]:443": false, "10.1.2.3:443": false, "192.168.0.1:443": false,
		"172.16.0.1:443": false, "169.254.1.1:443": false, "[fe80::1]:443": false, "[fd00::1]:443": false,
		"0.0.0.0:443": false, "[::ffff:127.0.0.1]:443": false,
		"192.0.2.1:443": true, "[2001:db8::1]:443": true, "8.8.8.8:443": true,
	} {
		if err := publicAddress("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
	// The default client does not connect to the loopback.
	s := newWKDServer(t, nil, func(rw http.ResponseWriter, r *http.Request) { rw.Write(aliceKey(t)) })
	w := NewWKD(WKDOptions{})
	if _, err := w.get(context.Background(), s.srv.URL+"/.well-known/openpgpkey/hu/x", "alice@example.test"); !errors.Is(err, errNotPublic) {
		t.Errorf("default client to %s: %v, want %v", s.srv.URL, err, errNotPublic)
	}
	if s.hits.Load() != 0 {
		t.Errorf("%d requests reached the loopback server", s.hits.Load())
	}
}

// Concurrent lookups share the cache safely (run with -race).
func TestWKDConcurrent(t *testing.T) {
	key := aliceKey(t)
	s := newWKDServer(t, []string{"openpgpkey.example.test"}, func(rw http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.RawQuery, "l=alice") {
			rw.Write(key)
			return
		}
		http.NotFound(rw, r)
	})
	w := NewWKD(WKDOptions{Client: s.client(true), MaxEntries: 3})
	done := make(chan error)
	for i := range 8 {
		go func() {
			addr := []string{"alice@example.test", "bob@example.test", "carol@example.test", "dave@example.test"}[i%4]
			_, err := w.KeysFor(context.Background(), addr)
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
