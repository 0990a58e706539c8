package milter

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"math/rand"
	"net"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// bufConn is a net.Conn reading from r and writing to w.
type bufConn struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (c *bufConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *bufConn) Write(p []byte) (int, error)        { return c.w.Write(p) }
func (c *bufConn) Close() error                       { return nil }
func (c *bufConn) LocalAddr() net.Addr                { return nil }
func (c *bufConn) RemoteAddr() net.Addr               { return nil }
func (c *bufConn) SetDeadline(t time.Time) error      { return nil }
func (c *bufConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(t time.Time) error { return nil }

// TestSessionPacketsMatchV050: the session's reused-buffer ReadPacket and
// WritePacket read and write what v0.5.0's readPacket and writePacket do.
func TestSessionPacketsMatchV050(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var msgs []*Message
	for _, n := range []int{0, 1, 3, 100, 4095, 4096, 65535, 65536, 70000, 5, 200000, 7} {
		data := make([]byte, n)
		rng.Read(data)
		msgs = append(msgs, &Message{Code: byte('A' + rng.Intn(26)), Data: data})
	}
	var wire bytes.Buffer
	for _, m := range msgs {
		c := &bufConn{}
		if err := writePacket(c, m, 0); err != nil {
			t.Fatal(err)
		}
		s := &milterSession{conn: &bufConn{}}
		if err := s.WritePacket(m); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.conn.(*bufConn).w.Bytes(), c.w.Bytes()) {
			t.Fatalf("WritePacket(%c, %d bytes) differs from v0.5.0", m.Code, len(m.Data))
		}
		wire.Write(c.w.Bytes())
	}
	s := &milterSession{conn: &bufConn{r: bytes.NewReader(wire.Bytes())}}
	orig := &bufConn{r: bytes.NewReader(wire.Bytes())}
	for range msgs {
		got, err1 := s.ReadPacket()
		want, err2 := readPacket(orig, 0)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if got.Code != want.Code || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("ReadPacket: %c/%d bytes, v0.5.0 %c/%d bytes", got.Code, len(got.Data), want.Code, len(want.Data))
		}
	}
	_, err1 := s.ReadPacket()
	_, err2 := readPacket(orig, 0)
	if err1 != err2 {
		t.Fatalf("at the end: %v, v0.5.0 %v", err1, err2)
	}
	for _, bad := range [][]byte{{0, 0, 0, 0}, {0, 0x20, 0, 0}, {0, 0, 0}, {0, 0, 0, 9, 'B'}} {
		s := &milterSession{conn: &bufConn{r: bytes.NewReader(bad)}}
		_, err1 := s.ReadPacket()
		_, err2 := readPacket(&bufConn{r: bytes.NewReader(bad)}, 0)
		if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
			t.Errorf("%x: error %v, v0.5.0 %v", bad, err1, err2)
		}
	}
}

// TestSessionPacketAllocs: no allocation per packet once the session's
// buffers have grown, for body chunks and replies alike.
func TestSessionPacketAllocs(t *testing.T) {
	var wire bytes.Buffer
	chunk := &Message{Code: 'B', Data: bytes.Repeat([]byte("x"), 65535)}
	writePacket(&bufConn{}, chunk, 0)
	c := &bufConn{}
	writePacket(c, chunk, 0)
	for i := 0; i < 101; i++ {
		wire.Write(c.w.Bytes())
	}
	s := &milterSession{conn: &bufConn{r: bytes.NewReader(wire.Bytes())}}
	s.ReadPacket()
	if n := testing.AllocsPerRun(100, func() { s.ReadPacket() }); n != 0 {
		t.Errorf("ReadPacket: %v allocations per packet", n)
	}
	w := &milterSession{conn: &bufConn{}}
	reply := &Message{Code: 'h', Data: []byte("Authentication-Results\x00 example.org; spf=pass\x00")}
	w.WritePacket(reply)
	if n := testing.AllocsPerRun(100, func() {
		w.conn.(*bufConn).w.Reset()
		w.WritePacket(reply)
	}); n != 0 {
		t.Errorf("WritePacket: %v allocations per packet", n)
	}
}

// TestMacroMapReused: each macro packet leaves exactly its own macros in the
// map, as v0.5.0's fresh map per packet did, in one map reused until ABORT.
func TestMacroMapReused(t *testing.T) {
	s := &milterSession{backend: &NoOpMilter{}, conn: &bufConn{}}
	packets := [][]string{
		{"j", "mx.example", "{daemon_name}", "smtpd", "_", "c [192.0.2.1]"},
		{"{mail_addr}", "a@example.org"},
		{"i", "4ABC"},
		{"odd"},
		{},
	}
	var first map[string]string
	for i, kv := range packets {
		data := []byte{byte(CodeHelo)}
		for _, x := range kv {
			data = append(data, x...)
			data = append(data, 0)
		}
		if _, err := s.Process(&Message{Code: byte(CodeMacro), Data: data}); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for j := 0; j < len(kv); j += 2 {
			if j+1 < len(kv) {
				want[kv[j]] = kv[j+1]
			} else {
				want[kv[j]] = ""
			}
		}
		if len(s.macros) != len(want) {
			t.Fatalf("packet %d: macros %v, want %v", i, s.macros, want)
		}
		for k, v := range want {
			if got, ok := s.macros[k]; !ok || got != v {
				t.Fatalf("packet %d: macros %v, want %v", i, s.macros, want)
			}
		}
		if first == nil {
			first = s.macros
		}
	}
	s.macros["x"] = "y"
	if first["x"] != "y" {
		t.Fatal("a new map was made")
	}
	if _, err := s.Process(&Message{Code: byte(CodeAbort)}); err != nil {
		t.Fatal(err)
	}
	if s.macros != nil {
		t.Fatal("ABORT kept the macros")
	}
}

// TestReadPacketAllocatesWhatArrives: a packet header announcing a large
// packet allocates in proportion to the bytes that follow it, not to the
// announced length (v0.5.0 allocated the announced 1 MiB at once).
func TestReadPacketAllocatesWhatArrives(t *testing.T) {
	for _, sent := range []int{0, 1000, 100 << 10} {
		wire := append([]byte{0, 0x10, 0, 0}, bytes.Repeat([]byte("B"), sent)...) // 1 MiB announced
		s := &milterSession{conn: &bufConn{r: bytes.NewReader(wire)}}
		s.rbuf = make([]byte, 0, maxKeptBuffer) // the pooled buffers, warm
		s.br = bufio.NewReaderSize(connReader{s}, 16<<10)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := s.ReadPacket()
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%d bytes sent: a truncated packet was read", sent)
		}
		got := after.TotalAlloc - before.TotalAlloc
		if limit := uint64(4*sent + 4096); got > limit {
			t.Errorf("%d bytes sent after a 1 MiB header: %d bytes allocated, want at most %d", sent, got, limit)
		}
	}
}

// TestReadPacketLarge: packets above the kept buffer, up to the maximum,
// read whole (growing buffer), and the maximum is the server's.
func TestReadPacketLarge(t *testing.T) {
	for _, n := range []int{maxKeptBuffer + 1, 3*maxKeptBuffer - 7, 1 << 20} {
		data := bytes.Repeat([]byte{'x'}, n-1)
		c := &bufConn{}
		writePacket(c, &Message{Code: 'B', Data: data}, 0)
		s := &milterSession{conn: &bufConn{r: bytes.NewReader(c.w.Bytes())}}
		m, err := s.ReadPacket()
		if err != nil || m.Code != 'B' || !bytes.Equal(m.Data, data) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	c := &bufConn{}
	writePacket(c, &Message{Code: 'B', Data: make([]byte, 1000)}, 0)
	s := &milterSession{server: &Server{MaxPacketSize: 1000}, conn: &bufConn{r: bytes.NewReader(c.w.Bytes())}}
	if _, err := s.ReadPacket(); err == nil || err.Error() != "milter: packet length 1001 exceeds 1000 bytes" {
		t.Fatalf("over MaxPacketSize: %v", err)
	}
}

// headerMilter records what Headers was given.
type headerMilter struct {
	NoOpMilter
	fields int
	h      textproto.MIMEHeader
}

func (h *headerMilter) Header(name, value string, m *Modifier) (Response, error) {
	h.fields++
	return RespContinue, nil
}

func (h *headerMilter) Headers(hdr textproto.MIMEHeader, m *Modifier) (Response, error) {
	h.h = hdr
	return RespContinue, nil
}

// TestNoHeaderMap: with Server.NoHeaderMap the session keeps no header
// field, however many arrive; each still reaches Header. Without it,
// v0.5.0's map.
func TestNoHeaderMap(t *testing.T) {
	for _, keep := range []bool{false, true} {
		b := &headerMilter{}
		s := &milterSession{server: &Server{NoHeaderMap: !keep}, backend: b, conn: &bufConn{}}
		for i := 0; i < 5000; i++ {
			if _, err := s.Process(&Message{Code: byte(CodeHeader), Data: []byte("X-Filler\x00 value\x00")}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Process(&Message{Code: byte(CodeEOH)}); err != nil {
			t.Fatal(err)
		}
		want := 0
		if keep {
			want = 5000
		}
		if b.fields != 5000 || len(s.headers["X-Filler"]) != want || len(b.h["X-Filler"]) != want {
			t.Fatalf("keep=%v: Header called %d times, %d fields kept, Headers given %d", keep, b.fields, len(s.headers["X-Filler"]), len(b.h["X-Filler"]))
		}
	}
}

// TestErrorLog: a session's error messages go to Server.ErrorLog.
func TestErrorLog(t *testing.T) {
	var out bytes.Buffer
	s := &milterSession{server: &Server{ErrorLog: log.New(&out, "", 0), MaxPacketSize: 100},
		backend: NoOpMilter{}, conn: &bufConn{r: bytes.NewReader([]byte{0, 0, 1, 0, 'B'})}}
	s.HandleMilterCommands()
	if got := out.String(); got != "Error reading milter command: milter: packet length 256 exceeds 100 bytes\n" {
		t.Fatalf("ErrorLog got %q", got)
	}
}

// FuzzReadPacket: on any input the session's ReadPacket (kept and grown
// buffers) reads the packets and errors v0.5.0's readPacket reads.
func FuzzReadPacket(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 'B', 'x', 0, 0, 0, 1, 'Q'})
	f.Add([]byte{0, 0x10, 0, 0, 'B'})
	f.Add([]byte{0, 0x10, 0, 1})
	f.Add(append([]byte{0, 1, 0, 4}, bytes.Repeat([]byte("y"), 70000)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &milterSession{conn: &bufConn{r: bytes.NewReader(in)}}
		orig := &bufConn{r: bytes.NewReader(in)}
		for {
			got, err1 := s.ReadPacket()
			want, err2 := readPacket(orig, 0)
			if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
				t.Fatalf("error %v, v0.5.0 %v", err1, err2)
			}
			if err1 != nil {
				return
			}
			if got.Code != want.Code || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("packet %c/%d bytes, v0.5.0 %c/%d bytes", got.Code, len(got.Data), want.Code, len(want.Data))
			}
		}
	})
}

// pipeSession runs a session of srv with handler b on one end of a pipe,
// and returns the other end; done is closed when the session has ended.
func pipeSession(srv *Server, b Milter, wrap func(net.Conn) net.Conn) (peer net.Conn, done chan struct{}) {
	c1, c2 := net.Pipe()
	if wrap != nil {
		c2 = wrap(c2)
	}
	done = make(chan struct{})
	go func() { srv.ServeConn(c2, b); close(done) }()
	return c1, done
}

func ended(done chan struct{}, within time.Duration) bool {
	select {
	case <-done:
		return true
	case <-time.After(within):
		return false
	}
}

// heloMilter counts HELO commands.
type heloMilter struct {
	NoOpMilter
	helos chan string
}

func (h *heloMilter) Helo(name string, m *Modifier) (Response, error) {
	h.helos <- name
	return nil, nil
}

// TestReadTimeout: with Server.ReadTimeout a packet must arrive whole
// within the timeout of its first byte, and the next start within the
// timeout; packets that each do may go on for longer than the timeout.
// v0.5.0 waits forever.
func TestReadTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := &Server{ReadTimeout: timeout, ErrorLog: log.New(io.Discard, "", 0)}
	helo := func(name string) []byte {
		c := &bufConn{}
		writePacket(c, &Message{Code: byte(CodeHelo), Data: []byte(name + "\x00")}, 0)
		return c.w.Bytes()
	}

	t.Run("packets within the timeout", func(t *testing.T) {
		b := &heloMilter{helos: make(chan string, 10)}
		peer, done := pipeSession(srv, b, nil)
		defer peer.Close()
		for i := 0; i < 4; i++ { // 480 ms in all
			time.Sleep(timeout * 6 / 10)
			if _, err := peer.Write(helo("h")); err != nil {
				t.Fatalf("packet %d: %v", i, err)
			}
		}
		if ended(done, 10*time.Millisecond) || len(b.helos) != 4 {
			t.Fatalf("session ended after %d packets each within the timeout", len(b.helos))
		}
		// Idle for longer than the timeout: the session ends.
		if !ended(done, 5*time.Second) {
			t.Fatal("idle session not ended")
		}
	})

	t.Run("trickled packet", func(t *testing.T) {
		b := &heloMilter{helos: make(chan string, 10)}
		peer, done := pipeSession(srv, b, nil)
		defer peer.Close()
		var werr error
		for _, c := range helo("trickle.example") { // 21 bytes, 40 ms apart
			if _, werr = peer.Write([]byte{c}); werr != nil {
				break
			}
			time.Sleep(40 * time.Millisecond)
		}
		if werr == nil || !ended(done, 5*time.Second) || len(b.helos) != 0 {
			t.Fatalf("a packet trickled over 800 ms was read (write error %v, %d HELO)", werr, len(b.helos))
		}
	})
}

// TestWriteTimeout: with Server.WriteTimeout a peer that does not read the
// reply ends the session; v0.5.0 blocks forever.
func TestWriteTimeout(t *testing.T) {
	srv := &Server{WriteTimeout: 100 * time.Millisecond, ErrorLog: log.New(io.Discard, "", 0)}
	peer, done := pipeSession(srv, NoOpMilter{}, nil)
	defer peer.Close()
	writePacket(peer, &Message{Code: byte(CodeMail), Data: []byte("<a@example.org>\x00")}, 0)
	if !ended(done, 5*time.Second) {
		t.Fatal("session still blocked writing a reply nobody reads")
	}
}

// writeCounter counts the writes to a connection.
type writeCounter struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// modifyingMilter makes each kind of header change and a quarantine at end
// of message.
type modifyingMilter struct{ NoOpMilter }

func (modifyingMilter) Body(m *Modifier) (Response, error) {
	m.ChangeHeader(2, "Authentication-Results", "")
	m.InsertHeader(0, "Authentication-Results", "mx.example; spf=pass")
	m.AddHeader("X-Checked", "yes")
	m.Quarantine("held")
	return RespAccept, nil
}

// TestModificationsWithReply: the modifications made at end of message go
// out with its reply in one write, the same bytes in the same order as
// v0.5.0's one write (or three) per packet.
func TestModificationsWithReply(t *testing.T) {
	var wc *writeCounter
	peer, done := pipeSession(&Server{NewMilter: func() Milter { return modifyingMilter{} }}, modifyingMilter{}, func(c net.Conn) net.Conn { wc = &writeCounter{Conn: c}; return wc })
	want := &bufConn{}
	modifyingMilter{}.Body(&Modifier{writePacket: func(msg *Message) error { return writePacket(want, msg, 0) }})
	writePacket(want, RespAccept.Response(), 0)

	writePacket(peer, &Message{Code: byte(CodeEOB)}, 0)
	got := make([]byte, want.w.Len())
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	<-done
	if !bytes.Equal(got, want.w.Bytes()) {
		t.Fatalf("wrote %q, v0.5.0 %q", got, want.w.Bytes())
	}
	if wc.writes != 1 {
		t.Fatalf("%d writes for the modifications and the reply, want 1", wc.writes)
	}
}

// TestServeConn: ServeConn runs a session with the given handler and
// returns once the peer has gone and the connection is closed.
func TestServeConn(t *testing.T) {
	c1, c2 := net.Pipe()
	b := &heloMilter{helos: make(chan string, 1)}
	done := make(chan struct{})
	go func() { (&Server{}).ServeConn(c2, b); close(done) }()
	writePacket(c1, &Message{Code: byte(CodeHelo), Data: []byte("h.example\x00")}, 0)
	if got := <-b.helos; got != "h.example" {
		t.Fatalf("HELO %q", got)
	}
	select {
	case <-done:
		t.Fatal("ServeConn returned with the connection open")
	case <-time.After(50 * time.Millisecond):
	}
	c1.Close()
	if !ended(done, 5*time.Second) {
		t.Fatal("ServeConn did not return after the peer closed")
	}
	if _, err := c2.Write([]byte{0}); err != io.ErrClosedPipe {
		t.Fatalf("after ServeConn, writing to the connection: %v, want it closed", err)
	}
}

// argsMilter records MAIL FROM with its ESMTP parameters.
type argsMilter struct {
	NoOpMilter
	got chan []string
}

func (a *argsMilter) MailFromArgs(from string, args []string, m *Modifier) (Response, error) {
	a.got <- append([]string{from}, args...)
	return RespContinue, nil
}

// TestMailFromArgs: a Milter with MailFromArgs gets the ESMTP parameters
// that follow the MAIL FROM address, each a C-string; v0.5.0 drops them.
func TestMailFromArgs(t *testing.T) {
	for _, tc := range []struct {
		data string
		want []string
	}{
		{"<a@example.org>\x00", []string{"a@example.org"}},
		{"<a@example.org>", []string{"a@example.org"}},
		{"<a@example.org>\x00REQUIRETLS\x00", []string{"a@example.org", "REQUIRETLS"}},
		{"<>\x00BODY=8BITMIME\x00REQUIRETLS\x00SIZE=100\x00", []string{"", "BODY=8BITMIME", "REQUIRETLS", "SIZE=100"}},
	} {
		b := &argsMilter{got: make(chan []string, 1)}
		peer, done := pipeSession(&Server{}, b, nil)
		go func() {
			for {
				if _, err := readPacket(peer, 0); err != nil {
					return
				}
			}
		}()
		writePacket(peer, &Message{Code: byte(CodeMail), Data: []byte(tc.data)}, 0)
		select {
		case got := <-b.got:
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("%q: got %q, want %q", tc.data, got, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: MailFromArgs not called", tc.data)
		}
		peer.Close()
		ended(done, 5*time.Second)
	}
}
