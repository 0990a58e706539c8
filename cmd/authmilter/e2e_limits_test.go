package main

import (
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"
)

// TestEndToEndMaxConnections: with milter.max_connections open, the MTA's
// milter connection is closed at once and the MTA applies its milter
// default action (tempfail in the contrib snippets): the message is not
// accepted unchecked. Once below the cap, mail flows again.
func TestEndToEndMaxConnections(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	w := newE2EWorld(t)
	d := startDaemon(t, w.dns.Addr, e2eConfig+"[milter]\nmax_connections = 1\n")
	for _, start := range []func(*testing.T, string) *mta{startPostfix, startSendmail} {
		m := start(t, d.Addr)
		t.Run(m.Name, func(t *testing.T) {
			// The one connection allowed, once the previous MTA's have
			// closed: negotiation is answered only on an admitted one.
			var hold net.Conn
			waitFor(t, "a connection admitted", func() bool {
				hold = admitted(d.Addr)
				return hold != nil
			})
			defer hold.Close()
			mid := "<cap." + m.Name + "@e2e.test>"
			msg := message([]string{"From: Alice <alice@other.test>", "To: u@rcpt.test", "Subject: cap", "Message-ID: " + mid}, "Capped.\n")
			r := sendAny(t, m.Addr, "other.test", "alice@other.test", msg)
			if !strings.HasPrefix(r, "4") {
				t.Fatalf("over max_connections: reply %q, want a 4xx tempfail", r)
			}
			t.Logf("over max_connections: %s", r)
			if !strings.Contains(d.log.String(), "milter.max_connections open") {
				t.Errorf("refusal not logged:\n%s", tail(d.log.String(), 20))
			}
			hold.Close()
			waitFor(t, "a message accepted once below the cap", func() bool {
				r = sendAny(t, m.Addr, "other.test", "alice@other.test", msg)
				return strings.HasPrefix(r, "250")
			})
		})
	}
}

// admitted opens a milter connection and negotiates on it: nil when the
// daemon closed it instead.
func admitted(addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil
	}
	c.Write([]byte{0, 0, 0, 13, 'O', 0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 64)); err != nil {
		c.Close()
		return nil
	}
	c.SetReadDeadline(time.Time{})
	return c
}

// sendAny runs one SMTP transaction from 127.0.0.1 and returns "250 ok" or
// the first error reply, the greeting's included.
func sendAny(t *testing.T, addr, helo, from string, msg []byte) string {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err.Error()
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c, err := smtp.NewClient(conn, "mx.authmilter.test")
	if err != nil {
		conn.Close()
		return replyText(err)
	}
	defer c.Close()
	if err := c.Hello(helo); err != nil {
		return replyText(err)
	}
	s := &smtpSession{c: c}
	return s.Send(t, from, "u@rcpt.test", msg)
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 30 s", what)
}
