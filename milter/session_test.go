package milter

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth"
	gomilter "github.com/emersion/go-milter"
)

// sessionZone: reject.test fails SPF and has p=reject; other.test and the
// HELO name pass SPF for 192.0.2.25.
const sessionZone = `
reject.test.         TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.reject.test.  TXT "v=DMARC1; p=reject"
other.test.          TXT "v=spf1 ip4:192.0.2.25 -all"
_dmarc.other.test.   TXT "v=DMARC1; p=reject"
helo.test.           TXT "v=spf1 ip4:192.0.2.25 -all"
`

const sessionIP = "192.0.2.25"

func simpleMessage(from, subject string) []byte {
	return []byte("From: <" + from + ">\r\nTo: <rcpt@example.net>\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@example.net>\r\n\r\nHello.\r\n")
}

// checkPassWithFacts checks that a message from b@other.test was evaluated
// with the connection's client address and HELO.
func checkPassWithFacts(t *testing.T, what string, mods []gomilter.ModifyAction, act *gomilter.Action) {
	t.Helper()
	ar := insertedAR(mods)
	if act.Code != gomilter.ActAccept || strings.Count(ar, "spf=pass") != 2 ||
		!strings.Contains(ar, "smtp.mailfrom=b@other.test") ||
		!strings.Contains(ar, "smtp.helo=helo.test") || !strings.Contains(ar, "dmarc=pass") {
		t.Errorf("%s: action %c, A-R:\n%s", what, act.Code, ar)
	}
}

// TestRejectedThenSecondMessage: two messages on one milter connection,
// the first rejected; the second still knows the client address and HELO.
func TestRejectedThenSecondMessage(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	mods, act := sendMessage(t, s, "a@reject.test", simpleMessage("a@reject.test", "first"))
	if act.Code != gomilter.ActReplyCode || act.SMTPCode != 550 {
		t.Fatalf("first message: %+v, want 550", act)
	}
	if !strings.HasPrefix(act.SMTPText, "5.7.1") {
		t.Errorf("reply text %q", act.SMTPText)
	}
	_ = mods
	mods, act = sendMessage(t, s, "b@other.test", simpleMessage("b@other.test", "second"))
	checkPassWithFacts(t, "second message", mods, act)
}

// factsMilter is a go-milter handler that keeps the HELO in its own
// fields, as go-milter's examples do, and rejects with RespReject.
type factsMilter struct {
	gomilter.NoOpMilter
	mu        *sync.Mutex
	helo      string
	sawAtMail *[]string
}

func (f *factsMilter) Helo(name string, m *gomilter.Modifier) (gomilter.Response, error) {
	f.helo = name
	return gomilter.RespContinue, nil
}

func (f *factsMilter) MailFrom(from string, m *gomilter.Modifier) (gomilter.Response, error) {
	f.mu.Lock()
	*f.sawAtMail = append(*f.sawAtMail, f.helo)
	f.mu.Unlock()
	return gomilter.RespContinue, nil
}

func (f *factsMilter) Body(m *gomilter.Modifier) (gomilter.Response, error) {
	return gomilter.RespReject, nil
}

// TestGoMilterRespRejectLosesFacts is the negative control of
// TestRejectedThenSecondMessage: with go-milter's own RespReject
// (Continue() false) go-milter v0.5.0 builds a new handler after the first
// message, and the second message no longer knows the HELO. Our replies
// (respond.go) always continue, which is why our state survives.
func TestGoMilterRespRejectLosesFacts(t *testing.T) {
	var mu sync.Mutex
	var saw []string
	gs := &gomilter.Server{
		NewMilter: func() gomilter.Milter { return &factsMilter{mu: &mu, sawAtMail: &saw} },
		Actions:   gomilter.OptAddHeader,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { gs.Serve(ln); close(done) }()
	defer func() { ln.Close(); <-done }()
	c := gomilter.NewClientWithOptions("tcp", ln.Addr().String(), gomilter.ClientOptions{
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, ActionMask: gomilter.OptAddHeader,
	})
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	for _, from := range []string{"a@reject.test", "b@other.test"} {
		if _, _, err := trySendMessage(s, from, simpleMessage(from, "x")); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(saw) != 2 || saw[0] != "helo.test" || saw[1] != "" {
		t.Fatalf("HELO seen at MAIL: %q; want [helo.test \"\"] (go-milter replaced the handler)", saw)
	}
}

// TestSASLSkipped: a client authenticated with SASL ({auth_authen} at MAIL)
// is accepted without evaluation; the next, unauthenticated, message of the
// same connection is evaluated.
func TestSASLSkipped(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	if err := s.Macros(gomilter.CodeMail, "{auth_authen}", "alice", "{auth_type}", "PLAIN"); err != nil {
		t.Fatal(err)
	}
	act, err := s.Mail("a@reject.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if act.Code != gomilter.ActAccept {
		t.Fatalf("authenticated MAIL: action %c, want accept", act.Code)
	}
	if n := env.dns.Queries("reject.test.", 16); n != 0 {
		t.Errorf("%d SPF queries for an authenticated client", n)
	}
	mods, act := sendMessage(t, s, "b@other.test", simpleMessage("b@other.test", "after-auth"), "{mail_addr}", "b@other.test")
	checkPassWithFacts(t, "message after the authenticated one", mods, act)
}

// TestTrustedClientAcceptedAtMail: connect gets no reply (SMFIP_NR_CONN),
// so a client in trusted_networks is accepted at each MAIL, before its
// message is sent, and nothing is looked up for it; a client outside them
// is evaluated.
func TestTrustedClientAcceptedAtMail(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{auth: func(c *auth.Config) {
		c.TrustedNetworks = []string{"192.0.2.0/24"}
	}})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	for i := 0; i < 2; i++ {
		act, err := s.Mail("a@reject.test", nil)
		if err != nil {
			t.Fatal(err)
		}
		if act.Code != gomilter.ActAccept {
			t.Fatalf("MAIL %d from a trusted client: action %c, want accept", i+1, act.Code)
		}
	}
	if n := env.dns.Queries("reject.test.", 16); n != 0 {
		t.Errorf("%d SPF queries for a trusted client", n)
	}
	s2 := env.client()
	defer s2.Close()
	connect(t, s2, "198.51.100.7", "helo.test")
	act, err := s2.Mail("a@reject.test", nil)
	if err != nil || act.Code != gomilter.ActContinue {
		t.Fatalf("MAIL from an untrusted client: %v, %v; want continue", act, err)
	}
}

// TestAbortAtEveryStage aborts a message at each stage of the protocol and
// then sends a full message on the same connection: it is evaluated with
// the connection's facts and nothing of the aborted message.
func TestAbortAtEveryStage(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	g0, f0 := countBaseline()
	stages := []string{"connect", "mail", "rcpt", "header", "eoh", "body"}
	for _, stage := range stages {
		t.Run(stage, func(t *testing.T) {
			s := env.client()
			defer s.Close()
			connect(t, s, sessionIP, "helo.test")
			step := func(act *gomilter.Action, err error) {
				t.Helper()
				if err != nil || act.Code != gomilter.ActContinue {
					t.Fatalf("%v %v", act, err)
				}
			}
			if stage != "connect" {
				step(s.Mail("a@reject.test", nil))
				if stage != "mail" {
					step(s.Rcpt("r@example.net", nil))
				}
				if stage == "header" || stage == "eoh" || stage == "body" {
					step(s.HeaderField("From", " <a@reject.test>"))
					step(s.HeaderField("Authentication-Results", " "+testAuthservID+"; dkim=pass"))
				}
				if stage == "eoh" || stage == "body" {
					step(s.HeaderEnd())
				}
				if stage == "body" {
					step(s.BodyChunk([]byte("partial body\r\n")))
				}
			}
			if err := s.Abort(); err != nil {
				t.Fatal(err)
			}
			mods, act := sendMessage(t, s, "b@other.test", simpleMessage("b@other.test", "after-abort-"+stage))
			checkPassWithFacts(t, "after abort at "+stage, mods, act)
			for _, m := range mods {
				if m.Code == gomilter.ActChangeHeader {
					t.Errorf("a header change left over from the aborted message: %+v", m)
				}
			}
		})
	}
	if n := env.srv.Sessions(); n > 1 {
		t.Logf("%d sessions still open", n)
	}
	env.stop()
	checkNoLeaks(t, g0, f0, 3)
}

// TestSecondMailWithoutEOM: a MAIL FROM in the middle of a message starts a
// new one; the first one's envelope and header fields are forgotten.
func TestSecondMailWithoutEOM(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	for _, f := range []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) { return s.Mail("a@reject.test", nil) },
		func() (*gomilter.Action, error) { return s.Rcpt("r@example.net", nil) },
		func() (*gomilter.Action, error) { return s.HeaderField("From", " <a@reject.test>") },
		func() (*gomilter.Action, error) { return s.HeaderEnd() },
		func() (*gomilter.Action, error) { return s.BodyChunk([]byte("body of the first\r\n")) },
	} {
		if act, err := f(); err != nil || act.Code != gomilter.ActContinue {
			t.Fatalf("%v %v", act, err)
		}
	}
	// No EOM, no ABORT: the MTA starts the next message.
	mods, act := sendMessage(t, s, "b@other.test", simpleMessage("b@other.test", "second"))
	checkPassWithFacts(t, "second MAIL FROM", mods, act)
}

// countBaseline takes the goroutine and fd counts after letting earlier
// tests' goroutines wind down.
func countBaseline() (goroutines, fds int) {
	time.Sleep(50 * time.Millisecond)
	return runtimeGoroutines(), openFDs()
}

// TestPanicAtConnectOrHelo: connect and HELO get no reply (SMFIP_NR_CONN,
// SMFIP_NR_HELO), so a callback that failed there cannot be answered
// there; the session's messages are then answered with the failure action
// (default 451), and a fresh session is evaluated as usual.
func TestPanicAtConnectOrHelo(t *testing.T) {
	for _, stage := range []string{"connect", "helo"} {
		t.Run(stage, func(t *testing.T) {
			env := newTestEnv(t, sessionZone, envOptions{})
			env.client().Close() // the server is serving (stop expects it to be)
			s := newSession(env.srv, &trackedConn{})
			if _, err := s.Connect("client.test", "tcp4", 25, net.ParseIP(sessionIP), nil); err != nil {
				t.Fatal(err)
			}
			panics := func() (resp gomilter.Response, err error) {
				defer s.guard(stage, &resp, &err)
				panic("injected")
			}
			if resp, err := panics(); resp != nil || err != nil {
				t.Fatalf("%s answered %v, %v; want no reply", stage, resp, err)
			}
			want := s.failureReply().Response()
			for i := 0; i < 2; i++ {
				s.MailFrom("b@other.test", nil)
				resp, err := s.Body(nil)
				if err != nil || resp == nil || resp.Response().Code != want.Code || string(resp.Response().Data) != string(want.Data) {
					t.Fatalf("message %d after a failed %s: %v, %v; want the failure reply %q", i+1, stage, resp, err, want.Data)
				}
			}
			if !strings.Contains(env.logs.String(), "internal error at "+stage) {
				t.Errorf("no log line for the failed %s:\n%s", stage, env.logs.String())
			}
		})
	}
}

// TestNoReplySteps: the steps negotiated without a reply are connect, HELO,
// RCPT, headers, end of header and body chunks; MAIL keeps its reply
// (trusted and authenticated clients are accepted there).
func TestNoReplySteps(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	s := env.client()
	defer s.Close()
	for opt, want := range map[gomilter.OptProtocol]bool{
		gomilter.OptNoHeloReply: true, gomilter.OptNoRcptReply: true, gomilter.OptNoHeaderReply: true,
		gomilter.OptNoEOHReply: true, gomilter.OptNoBodyReply: true,
		gomilter.OptNoConnReply: true, gomilter.OptNoMailReply: false,
	} {
		if got := s.ProtocolOption(opt); got != want {
			t.Errorf("protocol option %#x negotiated: %v, want %v", opt, got, want)
		}
	}
}

// TestNoStrayReplies: go-milter answers some commands by itself (tempfail
// for a malformed CONNECT; v0.5.0 also continue for a header field with a
// NUL in its value, which the patch hands to us); after a command
// negotiated without a reply, nothing may reach
// the MTA, which would take it as the answer to its next command. Raw
// packets, so that the first reply read is the one the MTA would read.
func TestNoStrayReplies(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	_, conn := env.clientConn()
	for _, p := range [][]byte{
		packet('C', "h\x004\x00"), // family 4 and no port: malformed
		packet('M', "<a@other.test>\x00"),
	} {
		conn.Write(p)
	}
	if code := readReply(t, conn); code != 'c' {
		t.Fatalf("reply to MAIL %q, want 'c': a stray reply to the malformed CONNECT came first", code)
	}
	for _, p := range [][]byte{
		packet('L', "X-Nul\x00a\x00b\x00"), // three strings: go-milter cannot split it
		packet('L', "From\x00 <a@other.test>\x00"),
		packet('N', ""),
		packet('B', "body\r\n"),
		packet('E', ""),
	} {
		conn.Write(p)
	}
	code := readReply(t, conn)
	for code == 'h' || code == 'i' || code == 'm' { // header changes come before the final reply
		code = readReply(t, conn)
	}
	if !strings.ContainsRune("aryt", rune(code)) { // accept, reject, reply code, tempfail
		t.Fatalf("final reply %q, want a final action: a stray reply to a header came first", code)
	}
}

// readReply reads one milter packet and returns its code.
func readReply(t *testing.T, conn net.Conn) byte {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(conn, b); err != nil || len(b) == 0 {
		t.Fatalf("packet %q: %v", b, err)
	}
	return b[0]
}
