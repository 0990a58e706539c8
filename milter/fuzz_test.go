package milter

import (
	"context"
	"encoding/binary"
	"io"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// pipeListener hands the server the far ends of net.Pipe pairs.
type pipeListener struct {
	ch       chan net.Conn
	done     chan struct{}
	once     sync.Once
	accepted atomic.Int64
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		l.accepted.Add(1)
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "unix"} }

// packet frames one milter command.
func packet(code byte, data string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)+1))
	b = append(b, code)
	return append(b, data...)
}

// optneg is the negotiation an MTA opens with (protocol 6, all actions).
var optneg = packet('O', string([]byte{0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff}))

func fuzzSeedSession() []byte {
	var b []byte
	for _, p := range [][]byte{
		packet('D', "Cj\x00mx.test\x00"),
		packet('C', "client.test\x004\x00\x19192.0.2.25\x00"),
		packet('H', "helo.test\x00"),
		packet('D', "Mi\x00QID\x00{auth_authen}\x00\x00"),
		packet('M', "<a@sender.test>\x00SIZE=10\x00"),
		packet('R', "<b@example.net>\x00"),
		packet('L', "From\x00 <a@sender.test>\x00"),
		packet('L', "Authentication-Results\x00 mx.fuzz.test; dkim=pass\x00"),
		packet('L', "Subject\x00 first\n\tsecond\x00"),
		packet('N', ""),
		packet('B', "body\r\n"),
		packet('E', ""),
		packet('A', ""),
		packet('M', "<>\x00"),
		packet('L', "From\x00\x00"),
		packet('B', "no EOH\r\n"),
		packet('A', ""),
		packet('Q', ""),
	} {
		b = append(b, p...)
	}
	return b
}

// FuzzSession writes arbitrary bytes to our milter server as if they came
// from the MTA: raw, or (framed) as a sequence of commands after a valid
// negotiation, each taken as code byte, length byte, data. The server must
// never panic (neither in our handler, which would log an internal error,
// nor in go-milter) and every session must end once the peer has gone.
func FuzzSession(f *testing.F) {
	seed := fuzzSeedSession()
	f.Add(false, append(append([]byte(nil), optneg...), seed...))
	f.Add(false, []byte{0, 0, 0, 0})
	f.Add(false, []byte{0xff, 0xff, 0xff, 0xff, 'B'})
	f.Add(false, append(append([]byte(nil), optneg...), packet('C', "x\x00")...))
	f.Add(false, packet('C', "h\x004\x00"))
	f.Add(true, []byte("CXclient\x00HXhelo\x00MXa@b\x00RXc@d\x00LXFrom\x00 <a@b>\x00NXBXbodyEXAXQX"))

	var logs, stdlog lockedBuffer
	log.SetOutput(&stdlog)
	f.Cleanup(func() { log.SetOutput(io.Discard) })
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	acfg := auth.DefaultConfig()
	acfg.AuthservID = "mx.fuzz.test"
	acfg.TrustedNetworks = nil
	w := NewWorkers()
	f.Cleanup(w.Stop)
	ev, err := auth.NewWithGo(acfg, dnstest.NXResolver{}, lg, w.Go)
	if err != nil {
		f.Fatal(err)
	}
	mcfg := DefaultConfig()
	mcfg.IdleTimeout = 2 * time.Second
	mcfg.WriteTimeout = 2 * time.Second
	srv, err := NewServer(mcfg, ev, w.Go, lg, nil)
	if err != nil {
		f.Fatal(err)
	}
	pl := &pipeListener{ch: make(chan net.Conn), done: make(chan struct{})}
	go srv.Serve(pl)
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		pl.Close()
	})
	var sent int64

	f.Fuzz(func(t *testing.T, framed bool, data []byte) {
		in := data
		if framed {
			in = append([]byte(nil), optneg...)
			for len(data) >= 2 {
				code, n := data[0], min(int(data[1]), len(data)-2)
				in = append(in, packet(code, string(data[2:2+n]))...)
				data = data[2+n:]
			}
		}
		c1, c2 := net.Pipe()
		pl.ch <- c2
		sent++
		drained := make(chan struct{})
		go func() { io.Copy(io.Discard, c1); close(drained) }()
		c1.SetWriteDeadline(time.Now().Add(10 * time.Second))
		c1.Write(in)
		c1.Close()
		<-drained
		deadline := time.Now().Add(10 * time.Second)
		for pl.accepted.Load() < sent || srv.Sessions() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("session still open 10 s after the peer left (input %q)", in)
			}
			time.Sleep(time.Millisecond)
		}
		if s := logs.String(); strings.Contains(s, "internal error") {
			t.Fatalf("handler panicked on %q:\n%s", in, s)
		}
		if s := logs.String() + stdlog.String(); strings.Contains(s, "panic handling command") {
			t.Fatalf("go-milter panicked on %q:\n%s", in, s)
		}
	})
}
