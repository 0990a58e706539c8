package milter

import (
	"bytes"
	"math/rand"
	"net"
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

// TestServerGoHook: with Server.Go set, each accepted connection's session
// is handed to it (and runs there) instead of to a new goroutine.
func TestServerGoHook(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{}, 2)
	s := &Server{
		NewMilter: func() Milter { return NoOpMilter{} },
		Go: func(f func()) {
			go func() { f(); ran <- struct{}{} }()
		},
	}
	go s.Serve(ln)
	defer s.Close()
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close() // the session reads EOF and returns
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d: session not run through Server.Go", i)
		}
	}
}
