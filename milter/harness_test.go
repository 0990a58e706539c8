package milter

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

const testAuthservID = "mx.milter.test"

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testEnv is a Server on 127.0.0.1:0 evaluating with DNS from dnstest.
type testEnv struct {
	t    testing.TB
	dns  *dnstest.Server
	srv  *Server
	addr string
	logs *lockedBuffer
	done chan error
	work *Workers // the daemon's kept goroutines; stopped with the server

	mu      sync.Mutex
	clients []net.Conn
}

// envOptions adjust the configuration of a testEnv before it starts.
type envOptions struct {
	auth   func(*auth.Config)
	milter func(*Config)
	dns    func(*dns.Config)
	log    *slog.Logger // default: debug text into testEnv.logs
	obs    Observer
	wrap   func(net.Listener) net.Listener // wraps the server's listener
}

func newTestEnv(t testing.TB, zone string, o envOptions) *testEnv {
	t.Helper()
	srv, err := dnstest.Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dcfg := dns.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1}
	if o.dns != nil {
		o.dns(&dcfg)
	}
	res, err := dns.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	acfg := auth.DefaultConfig()
	acfg.AuthservID = testAuthservID
	acfg.SPF.Timeout = 5 * time.Second
	acfg.Limits.EvaluationTimeout = 5 * time.Second
	if o.auth != nil {
		o.auth(&acfg)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.log != nil {
		log = o.log
	}
	w := NewWorkers() // as the daemon: sessions and background work on kept goroutines
	t.Cleanup(w.Stop)
	ev, err := auth.NewWithGo(acfg, res, log, w.Go)
	if err != nil {
		t.Fatal(err)
	}
	mcfg := DefaultConfig()
	if o.milter != nil {
		o.milter(&mcfg)
	}
	ms, err := NewServer(mcfg, ev, w.Go, log, o.obs)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, dns: srv, srv: ms, addr: ln.Addr().String(), logs: logs, done: make(chan error, 1), work: w}
	if o.wrap != nil {
		ln = o.wrap(ln)
	}
	go func() { e.done <- ms.Serve(ln) }()
	t.Cleanup(e.stop)
	return e
}

// stop shuts the server down and closes the client sockets (idempotent).
func (e *testEnv) stop() {
	defer func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, c := range e.clients {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.srv.Shutdown(ctx)
	// As the daemon does after Shutdown: idle workers end now, not after
	// their idle time (a leak check would wait for them).
	e.work.Stop()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Serve: %v", err)
		}
		e.done <- nil // a second stop does not block
	case <-time.After(5 * time.Second):
		e.t.Error("Serve did not return after Shutdown")
	}
}

// client opens a milter session as an MTA would (go-milter's client).
// go-milter's ClientSession.Close leaves the socket open when it cannot
// write QUIT (the server has gone): stop closes every client socket, so
// that leak checks count only the server's.
func (e *testEnv) client() *gomilter.ClientSession {
	e.t.Helper()
	s, _ := e.clientConn()
	return s
}

// connect sends the connect and HELO stages.
func connect(t testing.TB, s *gomilter.ClientSession, ip, helo string) {
	t.Helper()
	act, err := s.Conn("client.example", gomilter.FamilyInet, 25, ip)
	if err != nil {
		t.Fatal(err)
	}
	if act.Code != gomilter.ActContinue {
		t.Fatalf("connect: action %c", act.Code)
	}
	if act, err = s.Helo(helo); err != nil || act.Code != gomilter.ActContinue {
		t.Fatalf("helo: %v %v", act, err)
	}
}

// postfixFields splits a raw message (CRLF or LF) into header fields the
// way Postfix hands them to a milter that asked for the leading-space
// option: the value keeps the whitespace after the colon, and folds are a
// bare LF followed by the continuation line. It returns the body with CRLF
// line ends.
func postfixFields(raw []byte) (fields [][2]string, body []byte) {
	rest := raw
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1][1] += "\n" + string(line)
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			// Not a field: the MTA treats the rest as body.
			rest = append(append(append([]byte(nil), line...), '\n'), rest...)
			break
		}
		fields = append(fields, [2]string{string(bytes.TrimRight(name, " \t")), string(value)})
	}
	body = bytes.ReplaceAll(rest, []byte("\r\n"), []byte("\n"))
	body = bytes.ReplaceAll(body, []byte("\n"), []byte("\r\n"))
	return fields, body
}

// maxChunk is the largest body chunk an MTA sends (65,535 bytes).
const maxChunk = gomilter.MaxBodyChunk

// sendMessage runs MAIL, RCPT, the header, the body in chunks of at most
// maxChunk, and end of message, the way Postfix does; macros (name, value
// pairs) are sent before MAIL.
func sendMessage(t testing.TB, s *gomilter.ClientSession, from string, raw []byte, mailMacros ...string) ([]gomilter.ModifyAction, *gomilter.Action) {
	t.Helper()
	mods, act, err := trySendMessage(s, from, raw, mailMacros...)
	if err != nil {
		t.Fatal(err)
	}
	return mods, act
}

func trySendMessage(s *gomilter.ClientSession, from string, raw []byte, mailMacros ...string) ([]gomilter.ModifyAction, *gomilter.Action, error) {
	if len(mailMacros) > 0 {
		if err := s.Macros(gomilter.CodeMail, mailMacros...); err != nil {
			return nil, nil, err
		}
	}
	act, err := s.Mail(from, nil)
	if err != nil || act.Code != gomilter.ActContinue {
		return nil, act, err
	}
	if act, err = s.Rcpt("rcpt@example.net", nil); err != nil || act.Code != gomilter.ActContinue {
		return nil, act, err
	}
	fields, body := postfixFields(raw)
	for _, f := range fields {
		if act, err = s.HeaderField(f[0], f[1]); err != nil || act.Code != gomilter.ActContinue {
			return nil, act, err
		}
	}
	if act, err = s.HeaderEnd(); err != nil || act.Code != gomilter.ActContinue {
		return nil, act, err
	}
	for len(body) > 0 {
		n := min(len(body), maxChunk)
		if act, err = s.BodyChunk(body[:n]); err != nil || act.Code != gomilter.ActContinue {
			return nil, act, err
		}
		body = body[n:]
	}
	return s.End()
}

// insertedAR returns the value of the Authentication-Results field we
// inserted, or "".
func insertedAR(mods []gomilter.ModifyAction) string {
	for _, m := range mods {
		if m.Code == gomilter.ActInsertHeader && m.HeaderName == "Authentication-Results" {
			return m.HeaderValue
		}
	}
	return ""
}

// checkNoLeaks waits for goroutines and open files to come back to what
// they were (give or take slack), failing after a generous bound.
func checkNoLeaks(t testing.TB, goroutines, fds, slack int) {
	t.Helper()
	checkNoLeaksBut(t, goroutines, fds, slack, nil)
}

// checkNoLeaksBut is checkNoLeaks not counting the goroutines that idle
// says are expected (a running server's idle workers).
func checkNoLeaksBut(t testing.TB, goroutines, fds, slack int, idle func() int) {
	t.Helper()
	var g, f int
	for i := 0; i < 200; i++ {
		g, f = runtime.NumGoroutine(), openFDs()
		if idle != nil {
			g -= idle()
		}
		if g <= goroutines+slack && (fds < 0 || f <= fds+slack) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var links []string
	ents, _ := os.ReadDir("/proc/self/fd")
	var sockets string
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/udp", "/proc/self/net/tcp6", "/proc/self/net/udp6"} {
		b, _ := os.ReadFile(f)
		sockets += string(b)
	}
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			ino = strings.TrimSuffix(ino, "]")
			for _, line := range strings.Split(sockets, "\n") {
				if fs := strings.Fields(line); len(fs) > 9 && fs[9] == ino {
					l += " " + fs[1] + ">" + fs[2] + " st=" + fs[3]
				}
			}
		}
		links = append(links, l)
	}
	t.Errorf("leak: %d goroutines (before %d), %d fds (before %d): %v\n%s", g, goroutines, f, fds, links, buf)
}

// openFDs counts this process's open file descriptors (-1 when /proc is
// not available).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// isClosed reports whether err says the milter closed the connection.
func isClosed(err error) bool {
	var ne net.Error
	return err != nil && (errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "reset") || (errors.As(err, &ne) && !ne.Timeout()))
}

func runtimeGoroutines() int { return runtime.NumGoroutine() }
