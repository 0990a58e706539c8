package send

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// relay is a loopback go-smtp server that records what it was given and
// answers rcptErr to RCPT.
type relay struct {
	mu      sync.Mutex
	from    string
	ret     smtp.DSNReturn
	to      []string
	notify  []smtp.DSNNotify
	data    []byte
	tls     bool
	user    string
	rcptErr error
}

type session struct {
	r    *relay
	conn *smtp.Conn
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }
func (s *session) AuthMechanisms() []string {
	return []string{sasl.Plain}
}
func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if pass != "secret" {
			return smtp.ErrAuthFailed
		}
		s.r.mu.Lock()
		s.r.user = user
		s.r.mu.Unlock()
		return nil
	}), nil
}
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.from, s.r.ret = from, opts.Return
	_, s.r.tls = s.conn.TLSConnectionState()
	return nil
}
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.r.rcptErr != nil {
		return s.r.rcptErr
	}
	s.r.to = append(s.r.to, to)
	s.r.notify = opts.Notify
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.r.mu.Lock()
	s.r.data = b
	s.r.mu.Unlock()
	return err
}

func startRelay(t *testing.T, r *relay, withTLS bool) string {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{r: r, conn: c}, nil }))
	srv.Domain = "relay.test"
	srv.EnableDSN = true
	srv.AllowInsecureAuth = true
	if withTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"relay.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

const testMsg = "From: r@rep.test\r\nSubject: x\r\n\r\n.hi\r\n"

func TestSMTPSend(t *testing.T) {
	r := &relay{}
	m := &SMTP{Addr: startRelay(t, r, false)}
	if err := m.Send(context.Background(), "r@rep.test", []string{"d@dest.test"}, []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	if r.from != "r@rep.test" || strings.Join(r.to, ",") != "d@dest.test" || string(r.data) != testMsg {
		t.Errorf("relay got from %q to %q data %q", r.from, r.to, r.data)
	}
	if r.ret != smtp.DSNReturnHeaders || len(r.notify) != 1 || r.notify[0] != smtp.DSNNotifyFailure {
		t.Errorf("DSN parameters RET=%q NOTIFY=%v, want HDRS and FAILURE", r.ret, r.notify)
	}
	if r.tls {
		t.Error("TLS without STARTTLS offered")
	}
}

func TestSMTPReplies(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"550", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, true},
		{"452", &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &SMTP{Addr: startRelay(t, &relay{rcptErr: c.err}, false)}
			err := m.Send(context.Background(), "r@rep.test", []string{"d@dest.test"}, []byte(testMsg))
			var re *ReplyError
			if !errors.As(err, &re) || re.Code != c.err.(*smtp.SMTPError).Code || !strings.HasPrefix(re.Stage, "RCPT") {
				t.Fatalf("error %v, want the RCPT reply", err)
			}
			if IsPermanent(err) != c.permanent {
				t.Errorf("IsPermanent(%v) = %v", err, !c.permanent)
			}
		})
	}
}

func TestSMTPUnreachableIsTemporary(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = (&SMTP{Addr: addr, Timeout: 2 * time.Second}).Send(context.Background(), "r@rep.test", []string{"d@dest.test"}, []byte(testMsg))
	if err == nil || IsPermanent(err) {
		t.Errorf("closed port: %v, want a temporary error", err)
	}
}

func TestSMTPSilentRelayTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(5 * time.Second)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = (&SMTP{Addr: ln.Addr().String()}).Send(ctx, "r@rep.test", []string{"d@dest.test"}, []byte(testMsg))
	if err == nil || IsPermanent(err) {
		t.Errorf("silent relay: %v, want a temporary error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send returned after %v, not at the context's end", d)
	}
}

func TestSMTPStartTLS(t *testing.T) {
	r := &relay{}
	addr := startRelay(t, r, true)
	m := &SMTP{Addr: addr, Username: "u1", Password: "secret"}
	if err := m.Send(context.Background(), "r@rep.test", []string{"d@dest.test"}, []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	if !r.tls || r.user != "u1" {
		t.Errorf("auto: tls %v user %q, want TLS and AUTH as u1", r.tls, r.user)
	}
	// required checks the certificate: a self-signed one fails, and
	// nothing is sent.
	r.from = ""
	err := (&SMTP{Addr: addr, StartTLS: StartTLSRequired}).Send(context.Background(), "r@rep.test", []string{"d@dest.test"}, []byte(testMsg))
	if err == nil || IsPermanent(err) || r.from != "" {
		t.Errorf("required with an unknown certificate: %v, from %q", err, r.from)
	}
	// required without STARTTLS offered fails too.
	plain := startRelay(t, &relay{}, false)
	err = (&SMTP{Addr: plain, StartTLS: StartTLSRequired}).Send(context.Background(), "r@rep.test", []string{"d@dest.test"}, []byte(testMsg))
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("required, relay without STARTTLS: %v", err)
	}
	// off: no TLS although offered.
	r.tls = true
	if err := (&SMTP{Addr: addr, StartTLS: StartTLSOff}).Send(context.Background(), "r@rep.test", []string{"d@dest.test"}, []byte(testMsg)); err != nil || r.tls {
		t.Errorf("off: %v, tls %v", err, r.tls)
	}
	// a wrong password is a 535: permanent.
	err = (&SMTP{Addr: addr, Username: "u1", Password: "bad"}).Send(context.Background(), "r@rep.test", []string{"d@dest.test"}, []byte(testMsg))
	if !IsPermanent(err) {
		t.Errorf("bad password: %v, want permanent", err)
	}
}

// AUTH in clear text only to a loopback relay.
func TestIsLoopback(t *testing.T) {
	if isLoopback("relay.example.net") || isLoopback("192.0.2.1") || !isLoopback("127.0.0.1") || !isLoopback("::1") || !isLoopback("localhost") {
		t.Error("isLoopback")
	}
}
