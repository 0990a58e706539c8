// Package mtaststest has what tests of MTA-STS need offline: a test CA
// that issues server certificates, and an HTTPS server on 127.0.0.1 that
// serves /.well-known/mta-sts.txt for any mta-sts.DOMAIN, with an HTTP
// client that trusts only the test CA and dials only that server.
//
//	ca := mtaststest.NewCA(t)
//	srv := mtaststest.StartServer(t, ca, "example.test")
//	srv.SetPolicy("example.test", "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 86400\n")
//	f := mtasts.NewFetcher(srv.Client())
package mtaststest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// CA is a test certificate authority ("authmilter test CA").
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// NewCA makes a CA valid for a day.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "authmilter test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool is a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue makes a server certificate for names (the first is the CN), with
// its chain and key also in PEM.
func (ca *CA) Issue(tb testing.TB, names ...string) (cert tls.Certificate, certPEM, keyPEM []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, certPEM, keyPEM
}

// Response is what the server answers for one domain.
type Response struct {
	Status      int    // 0: 200
	ContentType string // "": text/plain
	Body        string
	Location    string // for a redirect status
}

// Server serves policies over HTTPS on 127.0.0.1.
type Server struct {
	Addr string // 127.0.0.1:PORT
	ca   *CA
	srv  *http.Server
	ln   net.Listener

	mu      sync.Mutex
	answers map[string]Response // by domain
	fetches map[string]int
}

// StartServer starts a server on 127.0.0.1 and a random port whose
// certificate covers mta-sts.D for each of domains; it stops when the test
// ends.
func StartServer(tb testing.TB, ca *CA, domains ...string) *Server {
	tb.Helper()
	return StartServerAt(tb, "127.0.0.1:0", ca, domains...)
}

// StartServerAt is StartServer listening on addr (a loopback address;
// port 443 for a daemon that resolves mta-sts.D through DNS).
func StartServerAt(tb testing.TB, addr string, ca *CA, domains ...string) *Server {
	tb.Helper()
	names := make([]string, len(domains))
	for i, d := range domains {
		names[i] = "mta-sts." + d
	}
	cert, _, _ := ca.Issue(tb, names...)
	return startServer(tb, addr, ca, cert)
}

// StartServerWithCert is StartServer with a given certificate.
func StartServerWithCert(tb testing.TB, ca *CA, cert tls.Certificate) *Server {
	tb.Helper()
	return startServer(tb, "127.0.0.1:0", ca, cert)
}

func startServer(tb testing.TB, addr string, ca *CA, cert tls.Certificate) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), ca: ca, answers: map[string]Response{}, fetches: map[string]int{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	s.ln = tls.NewListener(ln, s.srv.TLSConfig)
	go s.srv.Serve(s.ln)
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server: fetches fail from then on.
func (s *Server) Close() { s.srv.Close() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	domain, ok := strings.CutPrefix(strings.ToLower(host), "mta-sts.")
	s.mu.Lock()
	s.fetches[domain]++
	a, found := s.answers[domain]
	s.mu.Unlock()
	if !ok || !found || r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, r)
		return
	}
	if a.ContentType == "" {
		a.ContentType = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", a.ContentType)
	if a.Location != "" {
		w.Header().Set("Location", a.Location)
	}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	w.WriteHeader(a.Status)
	w.Write([]byte(a.Body))
}

// SetPolicy serves policy text for domain with status 200, text/plain.
func (s *Server) SetPolicy(domain, policy string) { s.SetResponse(domain, Response{Body: policy}) }

// SetResponse sets the whole answer for domain.
func (s *Server) SetResponse(domain string, r Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[domain] = r
}

// Fetches reports how many requests came for domain's policy host.
func (s *Server) Fetches(domain string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[domain]
}

// Client returns an HTTP client that trusts only the test CA and dials
// the server for every host name (the URL's name is kept for SNI and the
// certificate check).
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: Transport(s.ca.Pool(), s.Addr)}
}

// Transport trusts roots only and connects every request to addr.
func Transport(roots *x509.CertPool, addr string) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2: false,
	}
}
