package milter

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
)

// countObserver counts the listener's events.
type countObserver struct {
	acceptFailed, refused atomic.Int64
}

func (o *countObserver) SessionOpened()                                  {}
func (o *countObserver) SessionClosed()                                  {}
func (o *countObserver) MessageDone(*auth.Report, string, time.Duration) {}
func (o *countObserver) AcceptFailed()                                   { o.acceptFailed.Add(1) }
func (o *countObserver) ConnectionRefused()                              { o.refused.Add(1) }
func (o *countObserver) MessageSkipped(string)                           {}

// failingListener fails the next `fail` Accepts with EMFILE, as accept(2)
// does when the process is out of file descriptors.
type failingListener struct {
	net.Listener
	fail atomic.Int64
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fail.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept", syscall.EMFILE)}
	}
	l.fail.Store(0)
	return l.Listener.Accept()
}

// TestAcceptErrorsRetried: temporary accept errors (EMFILE) pause and
// retry instead of ending Serve; each is counted, each burst logged once,
// and the server goes on serving.
func TestAcceptErrorsRetried(t *testing.T) {
	obs := &countObserver{}
	fl := &failingListener{}
	fl.fail.Store(5)
	env := newTestEnv(t, sessionZone, envOptions{obs: obs, wrap: func(ln net.Listener) net.Listener {
		fl.Listener = ln
		return fl
	}})
	roundTrip := func() {
		t.Helper()
		s := env.client()
		defer s.Close()
		connect(t, s, sessionIP, "helo.test")
		if _, act := sendMessage(t, s, "b@other.test", simpleMessage("b@other.test", "after EMFILE")); act == nil {
			t.Fatal("no final reply")
		}
	}
	roundTrip() // five failures, then this connection
	fl.fail.Store(3)
	roundTrip() // admitted; the three failures follow it
	roundTrip()
	select {
	case err := <-env.done:
		t.Fatalf("Serve returned %v", err)
	default:
	}
	if n := obs.acceptFailed.Load(); n != 8 {
		t.Errorf("%d accept failures counted, want 8", n)
	}
	if n := strings.Count(env.logs.String(), "accepting milter connections failed"); n != 2 {
		t.Errorf("%d log lines for two bursts of accept errors, want 2:\n%s", n, env.logs.String())
	}
	if !strings.Contains(env.logs.String(), "too many open files") {
		t.Errorf("the log does not name the error:\n%s", env.logs.String())
	}
}

// TestAcceptPause: 5 ms, doubling, at most 1 s.
func TestAcceptPause(t *testing.T) {
	var got []time.Duration
	for d := time.Duration(0); len(got) < 10; {
		d = acceptPause(d)
		got = append(got, d)
	}
	ms := time.Millisecond
	want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pauses %v, want %v", got, want)
		}
	}
	if temporary(net.ErrClosed) || !temporary(&net.OpError{Op: "accept", Err: os.NewSyscallError("accept", syscall.ENFILE)}) {
		t.Error("temporary: a closed listener must end Serve, ENFILE must not")
	}
}

// TestMaxConnections: with milter.max_connections open, a new connection
// is closed at once (the MTA applies its default action), counted and
// logged once per burst; the open ones are served, and once one closes a
// new connection is admitted.
func TestMaxConnections(t *testing.T) {
	obs := &countObserver{}
	env := newTestEnv(t, sessionZone, envOptions{obs: obs, milter: func(c *Config) { c.MaxConnections = 3 }})
	var open []*gomilter.ClientSession
	for i := 0; i < 3; i++ {
		s := env.client()
		connect(t, s, sessionIP, "helo.test")
		open = append(open, s)
	}
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("connection %d past the cap: read %v, want EOF (closed at once)", 4+i, err)
		}
		c.Close()
	}
	for i, s := range open {
		if _, act := sendMessage(t, s, "b@other.test", simpleMessage("b@other.test", "within the cap")); act == nil {
			t.Fatalf("session %d: no final reply", i)
		}
	}
	if n := obs.refused.Load(); n != 2 {
		t.Errorf("%d refusals counted, want 2", n)
	}
	if n := strings.Count(env.logs.String(), "milter.max_connections open"); n != 1 {
		t.Errorf("%d log lines for one burst of refusals, want 1", n)
	}
	open[0].Close()
	waitSessions(t, env.srv, 2)
	s := env.client()
	connect(t, s, sessionIP, "helo.test")
	if _, act := sendMessage(t, s, "b@other.test", simpleMessage("b@other.test", "after one closed")); act == nil {
		t.Fatal("no final reply once below the cap")
	}
}

// rawSession opens a milter connection and negotiates, as an MTA would.
func rawSession(t *testing.T, env *testEnv) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Write(optneg)
	if code := readReply(t, c); code != 'O' {
		t.Fatalf("negotiation: %q", code)
	}
	return c
}

// TestPacketOverMaxRefused: a packet longer than milter.max_packet_bytes
// ends the connection before it is read, with the reason in the log.
func TestPacketOverMaxRefused(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{milter: func(c *Config) { c.MaxPacketBytes = 100_000 }})
	c := rawSession(t, env)
	c.Write(packet('M', "<a@other.test>\x00"))
	readReply(t, c)
	c.Write([]byte{0, 2, 0, 0, 'L'}) // 128 KiB announced
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after an over-long packet: read %v, want EOF", err)
	}
	waitSessions(t, env.srv, 0)
	if !strings.Contains(env.logs.String(), "packet length 131072 exceeds 100000 bytes") {
		t.Errorf("no reason logged:\n%s", env.logs.String())
	}
}

// TestAnnouncedPacketNotAllocated: packet headers announcing the largest
// packet allowed, followed by a few bytes, cost what was sent, not the
// announced length (1 MiB each before).
func TestAnnouncedPacketNotAllocated(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	const conns = 20
	var cs []net.Conn
	for i := 0; i < conns; i++ {
		cs = append(cs, rawSession(t, env))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, c := range cs {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], 1<<20)
		c.Write(append(hdr[:], "L"+strings.Repeat("x", 100)...))
	}
	time.Sleep(300 * time.Millisecond) // the sessions read what was sent
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > conns<<20/4 {
		t.Errorf("%d connections announcing 1 MiB and sending 100 bytes: %d KiB allocated", conns, got>>10)
	}
	if env.srv.Sessions() != conns {
		t.Errorf("%d sessions open, want %d", env.srv.Sessions(), conns)
	}
}

// TestGoMilterKeepsNoHeaders: header fields past limits.* are kept
// nowhere: auth.Message stops at the limit, and go-milter (patched,
// NoHeaderMap) keeps none for its Headers callback.
func TestGoMilterKeepsNoHeaders(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{auth: func(c *auth.Config) { c.Limits.MaxHeaders = 10 }})
	c := rawSession(t, env)
	c.Write(packet('M', "<a@other.test>\x00"))
	readReply(t, c)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	field := packet('L', "X-Pad\x00 "+strings.Repeat("p", 500)+"\x00")
	var buf []byte
	for i := 0; i < 5000; i++ { // 2.5 MB of header
		buf = append(buf, field...)
	}
	c.Write(buf)
	buf = nil
	// A second MAIL (it has a reply) once every field has been handled;
	// go-milter's header map lasted until end of message or ABORT.
	c.Write(packet('M', "<a@other.test>\x00"))
	readReply(t, c)
	if grew := int64(heap()) - int64(before); grew > 1<<20 {
		t.Errorf("heap grew by %d KiB over 5000 header fields past limits.max_headers", grew>>10)
	}
}

// TestConfigLimitsValidated: max_connections and max_packet_bytes out of
// range are refused, naming the key.
func TestConfigLimitsValidated(t *testing.T) {
	for _, c := range []struct {
		set func(*Config)
		key string
	}{
		{func(c *Config) { c.MaxConnections = 0 }, "milter.max_connections"},
		{func(c *Config) { c.MaxPacketBytes = 65535 }, "milter.max_packet_bytes"},
		{func(c *Config) { c.MaxPacketBytes = 2 << 30 }, "milter.max_packet_bytes"},
	} {
		cfg := DefaultConfig()
		c.set(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("error %v does not name %s", err, c.key)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestMemoryPerConnection measures the worst case a connection can hold
// with the default limits: a header just under limits.max_header_bytes
// (kept for DKIM) and a packet of milter.max_packet_bytes announced and
// sent but for its last byte (its buffer fully grown). The figure, per
// connection, is the growth of the Go heap and stacks after a collection;
// README states it. It must stay below 4 MiB.
func TestMemoryPerConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("holds ~30 MB")
	}
	env := newTestEnv(t, sessionZone, envOptions{})
	cfg := DefaultConfig()
	const conns = 10
	used := func() uint64 {
		runtime.GC()
		runtime.GC() // sync.Pool's buffers (kept one cycle) are gone
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc + ms.StackInuse
	}
	start := used()
	var cs []net.Conn
	for i := 0; i < conns; i++ {
		cs = append(cs, rawSession(t, env))
	}
	idle := (int64(used()) - int64(start)) / conns
	field := packet('L', "X-Pad\x00 "+strings.Repeat("p", 1000)+"\x00")
	var header []byte
	for i := 0; i < 990; i++ { // 998,000 bytes of header: limits.max_header_bytes is 1 MiB
		header = append(header, field...)
	}
	big := make([]byte, 4+cfg.MaxPacketBytes-1)
	binary.BigEndian.PutUint32(big, uint32(cfg.MaxPacketBytes))
	big[4] = 'B'
	before := used()
	for _, c := range cs {
		c.Write(packet('M', "<a@other.test>\x00"))
		readReply(t, c)
		c.Write(header)
		c.Write(big)
	}
	time.Sleep(time.Second) // the sessions read what was sent
	per := idle + (int64(used())-int64(before))/conns
	runtime.KeepAlive(header)
	runtime.KeepAlive(big)
	t.Logf("a negotiated idle connection: %d KiB", idle>>10)
	t.Logf("worst case per connection (header packets %d bytes, packet %d bytes): %d KiB of Go heap and stack", len(header), cfg.MaxPacketBytes, per>>10)
	if per > 4<<20 {
		t.Errorf("%d KiB per connection", per>>10)
	}
	if env.srv.Sessions() != conns {
		t.Errorf("%d sessions open, want %d", env.srv.Sessions(), conns)
	}
}
