package milter

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// trackedConn is one milter connection from the MTA. It bounds every read
// and write with a deadline (a stalled or hostile peer cannot hold a
// goroutine forever), coalesces the end-of-message header changes with the
// final reply into one write (the MTA then waits for one segment, not for a
// delayed ACK per packet), and records whether a message is in flight, so
// that shutdown can wait for it.
type trackedConn struct {
	net.Conn
	idle, writeTimeout time.Duration

	busy    atomic.Bool // a message is between MAIL FROM and its final reply
	lastEOM atomic.Bool // the next reply sent is a message's final reply
	closed  atomic.Bool
	onClose func()

	wmu     sync.Mutex
	pending []byte // bytes of packets not yet complete, or held modifications
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if c.idle > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.Read(p)
}

// Write buffers milter packets that modify the message ('h', 'i', 'm', 'q',
// ...) and sends them together with the next packet that is a reply.
// go-milter writes each packet through its own bufio.Writer, so one packet
// may arrive in several Write calls; packets are reassembled by their
// length prefix.
func (c *trackedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.pending = append(c.pending, p...)
	for off := 0; ; {
		if len(c.pending)-off < 5 {
			break
		}
		n := int(binary.BigEndian.Uint32(c.pending[off:]))
		if len(c.pending)-off-4 < n {
			break
		}
		code := c.pending[off+4]
		off += 4 + n
		if !isModification(code) {
			// Everything up to here goes out; a partial packet stays.
			if err := c.send(c.pending[:off]); err != nil {
				return 0, err
			}
			if c.lastEOM.Swap(false) {
				c.busy.Store(false)
			}
			c.pending = append(c.pending[:0], c.pending[off:]...)
			off = 0
		}
	}
	return len(p), nil
}

func (c *trackedConn) send(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if c.writeTimeout > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	_, err := c.Conn.Write(b)
	return err
}

// isModification reports whether a milter response code is a message
// modification, sent before the final reply of end of message.
func isModification(code byte) bool {
	switch code {
	case '+', '-', '2', 'b', 'e', 'h', 'i', 'm', 'q', 'p':
		return true
	}
	return false
}

func (c *trackedConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.onClose != nil {
		c.onClose()
	}
	return c.Conn.Close()
}

// listener hands go-milter tracked connections and remembers the one just
// accepted: go-milter's accept loop calls NewMilter right after Accept, in
// the same goroutine, so the new handler can find its connection.
type listener struct {
	net.Listener
	srv  *Server
	last *trackedConn
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		t := &trackedConn{Conn: c, idle: l.srv.cfg.IdleTimeout, writeTimeout: l.srv.cfg.WriteTimeout}
		t.onClose = func() { l.srv.untrack(t) }
		if !l.srv.track(t) { // shutting down
			c.Close()
			continue
		}
		l.last = t
		return t, nil
	}
}
