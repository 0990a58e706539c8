package milter

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
)

// faultZone: p=reject for fault.test, whose SPF would pass.
const faultZone = `
fault.test.         TXT "v=spf1 ip4:192.0.2.25 -all"
_dmarc.fault.test.  TXT "v=DMARC1; p=reject"
`

// shortDNS makes every lookup give up quickly: the faults below must end
// in temperror, not in a wait.
func shortDNS(c *dns.Config) {
	c.Timeout = 300 * time.Millisecond
	c.Attempts = 1
	c.NoCache = true
}

// expectTempfail sends one message and checks that it is tempfailed (451),
// within a generous bound.
func expectTempfail(t *testing.T, env *testEnv) {
	t.Helper()
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	start := time.Now()
	mods, act := sendMessage(t, s, "a@fault.test", simpleMessage("a@fault.test", "fault"))
	if act.Code != gomilter.ActReplyCode || act.SMTPCode != 451 {
		t.Errorf("action %+v, want 451; A-R:\n%s", act, insertedAR(mods))
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("message took %s", el)
	}
}

// TestDNSFaults: DNS down, SERVFAIL, dropped queries, answers after 10 s,
// and truncated answers with no TCP all tempfail the message (a p=reject
// domain cannot be checked), and leave no goroutine or fd behind.
func TestDNSFaults(t *testing.T) {
	g0, f0 := countBaseline()
	t.Run("down", func(t *testing.T) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := pc.LocalAddr().String()
		pc.Close()
		env := newTestEnv(t, faultZone, envOptions{dns: func(c *dns.Config) {
			shortDNS(c)
			c.Servers = []string{dead}
		}})
		expectTempfail(t, env)
	})
	t.Run("servfail", func(t *testing.T) {
		env := newTestEnv(t, faultZone, envOptions{dns: shortDNS})
		env.dns.ServFail("*")
		expectTempfail(t, env)
	})
	t.Run("drop", func(t *testing.T) {
		env := newTestEnv(t, faultZone, envOptions{dns: shortDNS})
		env.dns.Drop("*")
		expectTempfail(t, env)
	})
	t.Run("after-10s", func(t *testing.T) {
		env := newTestEnv(t, faultZone, envOptions{dns: shortDNS})
		env.dns.Delay("*", 10*time.Second)
		expectTempfail(t, env)
	})
	t.Run("truncated-no-tcp", func(t *testing.T) {
		addr := truncatingUDPServer(t)
		env := newTestEnv(t, faultZone, envOptions{dns: func(c *dns.Config) {
			shortDNS(c)
			c.Servers = []string{addr}
		}})
		expectTempfail(t, env)
	})
	t.Run("evaluation-deadline", func(t *testing.T) {
		// The resolver would wait 10 s; the per-message deadline is 1 s.
		env := newTestEnv(t, faultZone, envOptions{
			dns:  func(c *dns.Config) { c.Timeout = 10 * time.Second; c.Attempts = 1; c.NoCache = true },
			auth: func(c *auth.Config) { c.Limits.EvaluationTimeout = time.Second; c.SPF.Timeout = time.Second },
		})
		env.dns.Drop("*")
		expectTempfail(t, env)
	})
	checkNoLeaks(t, g0, f0, 3)
}

// truncatingUDPServer answers every query over UDP with an empty TC=1
// reply; nothing listens on TCP at that port.
func truncatingUDPServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Truncated = true
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// connDialer remembers the connection it dialed, so a test can drop it.
type connDialer struct{ conn net.Conn }

func (d *connDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.Dial(network, addr)
	d.conn = c
	return c, err
}

func (e *testEnv) clientConn() (*gomilter.ClientSession, net.Conn) {
	e.t.Helper()
	d := &connDialer{}
	c := gomilter.NewClientWithOptions("tcp", e.addr, gomilter.ClientOptions{
		Dialer: d, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	})
	s, err := c.Session()
	if d.conn != nil {
		e.mu.Lock()
		e.clients = append(e.clients, d.conn)
		e.mu.Unlock()
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return s, d.conn
}

// waitSessions waits until the server has n open connections.
func waitSessions(t *testing.T, srv *Server, n int) {
	t.Helper()
	for i := 0; i < 400 && srv.Sessions() != n; i++ {
		time.Sleep(25 * time.Millisecond)
	}
	if got := srv.Sessions(); got != n {
		t.Errorf("%d open sessions, want %d", got, n)
	}
}

// TestMTADropsConnection: the MTA goes away in the middle of the header,
// in the middle of the body (with DKIM verification streaming), and in the
// middle of a packet. The session ends, the message's background work is
// released, and nothing leaks.
func TestMTADropsConnection(t *testing.T) {
	env := newTestEnv(t, faultZone+`sel._domainkey.fault.test. TXT "v=DKIM1; k=ed25519; p=pP+YUyRjAvKha4Oc49KAY703oLUS1NLMEuGD3IHMKww="`+"\n", envOptions{dns: shortDNS})
	g0, f0 := countBaseline()
	sig := " v=1; a=ed25519-sha256; c=relaxed/relaxed; d=fault.test; s=sel; h=from; bh=AAAA; b=AAAA"
	for _, stage := range []string{"header", "body", "mid-packet", "quit-mid-message"} {
		t.Run(stage, func(t *testing.T) {
			s, conn := env.clientConn()
			connect(t, s, sessionIP, "helo.test")
			step := func(act *gomilter.Action, err error) {
				t.Helper()
				if err != nil || act.Code != gomilter.ActContinue {
					t.Fatalf("%v %v", act, err)
				}
			}
			step(s.Mail("a@fault.test", nil))
			step(s.Rcpt("r@example.net", nil))
			step(s.HeaderField("DKIM-Signature", sig))
			step(s.HeaderField("From", " <a@fault.test>"))
			switch stage {
			case "body", "mid-packet", "quit-mid-message":
				step(s.HeaderEnd())
				step(s.BodyChunk([]byte(strings.Repeat("body\r\n", 1000))))
			}
			switch stage {
			case "mid-packet":
				// The length says 1000 bytes; 10 arrive.
				var b [4]byte
				binary.BigEndian.PutUint32(b[:], 1000)
				conn.Write(append(b[:], "Bpartial!!"...))
			case "quit-mid-message":
				binary.Write(conn, binary.BigEndian, uint32(1))
				conn.Write([]byte{'Q'})
			}
			conn.Close()
			waitSessions(t, env.srv, 0)
		})
	}
	// Workers that wait for the next session (for workerIdle) are not
	// counted; one still busy with a dropped message's work is.
	checkNoLeaksBut(t, g0, f0, 2, idleWorkers)
}

// TestSlowClient: an MTA that sends a packet slower than the idle timeout
// allows (one byte at a time, each within the timeout, the whole packet
// not) is disconnected; one that pauses between packets longer than the
// idle timeout is too.
func TestSlowClient(t *testing.T) {
	env := newTestEnv(t, faultZone, envOptions{dns: shortDNS, milter: func(c *Config) { c.IdleTimeout = 300 * time.Millisecond }})
	g0, f0 := countBaseline()
	t.Run("trickle", func(t *testing.T) {
		s, conn := env.clientConn()
		connect(t, s, sessionIP, "helo.test")
		pkt := []byte{0, 0, 0, 20, 'H'}
		pkt = append(pkt, "helo.trickle.test\x00\x00"...)
		closed := false
		for _, c := range pkt {
			if _, err := conn.Write([]byte{c}); err != nil {
				closed = true
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var b [1]byte
		_, err := conn.Read(b[:])
		if !closed && !isClosed(err) {
			t.Errorf("a packet trickled over %s was not cut off (read: %v)", 100*time.Millisecond*time.Duration(len(pkt)), err)
		}
		conn.Close()
	})
	t.Run("pause", func(t *testing.T) {
		s, conn := env.clientConn()
		connect(t, s, sessionIP, "helo.test")
		time.Sleep(time.Second)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var b [1]byte
		if _, err := conn.Read(b[:]); !isClosed(err) {
			t.Errorf("idle connection not closed: %v", err)
		}
		conn.Close()
	})
	waitSessions(t, env.srv, 0)
	checkNoLeaks(t, g0, f0, 2)
}
