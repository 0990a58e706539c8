package send

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mailer hands one message to a mail system for the recipients to. An
// error is permanent when IsPermanent says so, else temporary.
type Mailer interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// StartTLS is how the SMTP mailer uses STARTTLS (RFC 3207).
type StartTLS string

// Values of StartTLS.
const (
	// StartTLSOff never starts TLS.
	StartTLSOff StartTLS = "off"
	// StartTLSAuto starts TLS when the relay offers it, without checking
	// its certificate (opportunistic, as between MTAs); a failed
	// handshake is a temporary failure.
	StartTLSAuto StartTLS = "auto"
	// StartTLSRequired needs TLS with a certificate valid for the relay's
	// host name; a relay without STARTTLS is a temporary failure.
	StartTLSRequired StartTLS = "required"
)

// Valid reports whether s is one of the values.
func (s StartTLS) Valid() bool {
	return s == StartTLSOff || s == StartTLSAuto || s == StartTLSRequired
}

// SMTP is a Mailer that opens one connection to a relay per Send.
type SMTP struct {
	// Addr is the relay, host:port.
	Addr     string
	StartTLS StartTLS // "" is StartTLSAuto
	// Username and Password, when Username is set, authenticate with
	// AUTH PLAIN (RFC 4616), only over TLS or to a loopback relay.
	Username, Password string
	// Timeout bounds the whole transaction when ctx has no earlier
	// deadline; 0 is 2 minutes.
	Timeout time.Duration
	// RootCAs verifies the relay with StartTLSRequired; nil is the
	// system's roots.
	RootCAs *x509.CertPool
}

// ReplyError is a relay's negative reply.
type ReplyError struct {
	Code     int    // 4xx or 5xx
	Enhanced string // "5.1.1", or ""
	Text     string
	Stage    string // MAIL, RCPT, DATA, ...
}

func (e *ReplyError) Error() string {
	s := fmt.Sprintf("%s: %d", e.Stage, e.Code)
	if e.Enhanced != "" {
		s += " " + e.Enhanced
	}
	return s + " " + e.Text
}

// Permanent reports whether the reply is a 5xx (RFC 5321 §4.2.1).
func (e *ReplyError) Permanent() bool { return e.Code/100 == 5 }

// IsPermanent reports whether err is a permanent failure: the relay
// answered 5xx, so the same message to the same recipients would fail
// again. Everything else (4xx, connection and TLS errors, timeouts) is
// temporary. A nil error is not permanent.
func IsPermanent(err error) bool {
	var re *ReplyError
	if errors.As(err, &re) {
		return re.Permanent()
	}
	var pe interface{ Permanent() bool }
	return errors.As(err, &pe) && pe.Permanent()
}

// Send implements Mailer: MAIL FROM from, RCPT TO each of to, DATA msg.
// The message is sent when every recipient was accepted; a recipient
// refused makes the whole send fail (the caller sends one transaction per
// destination, RFC 9990 §3.5).
func (m *SMTP) Send(ctx context.Context, from string, to []string, msg []byte) error {
	if len(to) == 0 {
		return errors.New("send: no recipients")
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout())
	defer cancel()
	c, err := m.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from, &smtp.MailOptions{Return: smtp.DSNReturnHeaders}); err != nil {
		return reply("MAIL", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure}}); err != nil {
			return reply("RCPT "+rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return reply("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return reply("DATA", err)
	}
	if err := w.Close(); err != nil {
		return reply("end of DATA", err)
	}
	_ = c.Quit()
	return nil
}

// client connects, says EHLO, starts TLS and authenticates as
// configured. With StartTLSAuto a relay that offers STARTTLS is dialled a
// second time to start it (go-smtp starts TLS only right after the
// greeting).
func (m *SMTP) client(ctx context.Context) (*smtp.Client, error) {
	host, _, _ := net.SplitHostPort(m.Addr)
	mode := m.StartTLS
	if mode == "" {
		mode = StartTLSAuto
	}
	var cfg *tls.Config
	switch mode {
	case StartTLSRequired:
		cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, RootCAs: m.RootCAs}
	case StartTLSAuto:
		c, err := m.dial(ctx, nil)
		if err != nil {
			return nil, err
		}
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return m.auth(c, host, false)
		}
		_ = c.Quit()
		c.Close()
		// Opportunistic, as between MTAs: any certificate.
		cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	}
	c, err := m.dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return m.auth(c, host, cfg != nil)
}

// dial opens a connection bounded by ctx and says EHLO, with STARTTLS
// first when cfg is not nil.
func (m *SMTP) dial(ctx context.Context, cfg *tls.Config) (*smtp.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return nil, fmt.Errorf("send: relay %s: %w", m.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A cancelled ctx ends any read or write in progress.
	context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	// go-smtp says EHLO localhost (it starts TLS only right after its own
	// EHLO, so the name cannot be chosen); a relay takes that from us.
	var c *smtp.Client
	if cfg == nil {
		c = smtp.NewClient(conn)
	} else if c, err = smtp.NewClientStartTLS(conn, cfg); err != nil {
		conn.Close()
		return nil, fmt.Errorf("send: STARTTLS with %s: %w", m.Addr, err)
	}
	c.CommandTimeout, c.SubmissionTimeout = m.timeout(), m.timeout()
	if cfg == nil {
		if err := c.Hello("localhost"); err != nil {
			c.Close()
			return nil, reply("EHLO", err)
		}
	}
	return c, nil
}

func (m *SMTP) timeout() time.Duration {
	if m.Timeout <= 0 {
		return 2 * time.Minute
	}
	return m.Timeout
}

// auth authenticates when Username is set.
func (m *SMTP) auth(c *smtp.Client, host string, tlsOn bool) (*smtp.Client, error) {
	if m.Username == "" {
		return c, nil
	}
	if !tlsOn && !isLoopback(host) {
		c.Close()
		return nil, fmt.Errorf("send: no AUTH to %s without TLS", m.Addr)
	}
	if err := c.Auth(sasl.NewPlainClient("", m.Username, m.Password)); err != nil {
		c.Close()
		return nil, reply("AUTH", err)
	}
	return c, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reply turns go-smtp's error into a ReplyError when it is a reply.
func reply(stage string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		re := &ReplyError{Code: se.Code, Text: strings.TrimSpace(se.Message), Stage: stage}
		if c := se.EnhancedCode; c != (smtp.EnhancedCode{}) && c[0] > 0 {
			re.Enhanced = fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
		}
		return re
	}
	return fmt.Errorf("send: %s: %w", stage, err)
}
