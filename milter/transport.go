package milter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
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
	// quick is the socket quick-ack mode is set on after each read (nil
	// when not TCP on Linux).
	quick syscall.RawConn

	busy    atomic.Bool // a message is between MAIL FROM and its final reply
	lastEOM atomic.Bool // the next reply sent is a message's final reply
	closed  atomic.Bool
	onClose func()

	// release drops the session's message in flight. It is set before the
	// session starts and called once, in the session's goroutine, when the
	// connection ends (read or write error, QUIT, or go-milter closing it):
	// a message whose MTA went away must not keep its DNS lookups and its
	// DKIM verifier goroutine alive.
	release func()

	// Where the reader is in the packet stream: rhdr collects the 4-byte
	// length, rleft counts the bytes of the packet still to come.
	rhdr  [4]byte
	rhdrN int
	rleft int
	// pktStart is when go-milter began reading the current packet.
	pktStart time.Time

	// br buffers reads: go-milter reads each packet's length and body
	// straight from the connection, two system calls per packet, and with
	// the no-reply steps the MTA sends many packets in one segment.
	br *bufio.Reader

	wmu     sync.Mutex
	pending []byte // bytes of packets not yet complete, or held modifications
}

// Read reads through the connection's read buffer; each read from the
// socket has a deadline (connReader): a whole packet must arrive within
// IdleTimeout of its start, so an MTA (or anything else on the socket)
// trickling a byte at a time cannot hold the session forever.
func (c *trackedConn) Read(p []byte) (int, error) {
	if c.br == nil {
		c.br = readBufs.Get().(*bufio.Reader)
		c.br.Reset(connReader{c})
	}
	n, err := c.br.Read(p)
	c.advance(p[:n])
	if err != nil {
		c.end() // go-milter ends the session on any read error
	}
	return n, err
}

// readBufs are the connections' read buffers: Postfix opens a connection
// per SMTP session, most with one message, so unpooled they would cost an
// allocation per message.
var readBufs = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// connReader is what the read buffer reads from: the connection, with the
// idle deadline set when the reader (go-milter) is between packets.
type connReader struct{ c *trackedConn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	if c.idle > 0 {
		// Between packets the MTA has idle_timeout for the next one;
		// within one, idle_timeout from its start, however long
		// processing the packets buffered before it took.
		start := time.Now()
		if c.rhdrN != 0 {
			start = c.pktStart
		}
		c.Conn.SetReadDeadline(start.Add(c.idle))
	}
	n, err := c.Conn.Read(p)
	quickAck(c.quick)
	return n, err
}

// advance follows the packet framing (a 4-byte big-endian length, then that
// many bytes) over the bytes just read.
func (c *trackedConn) advance(b []byte) {
	for len(b) > 0 {
		if c.rhdrN < 4 {
			if c.rhdrN == 0 {
				c.pktStart = time.Now()
			}
			k := copy(c.rhdr[c.rhdrN:], b)
			c.rhdrN += k
			b = b[k:]
			if c.rhdrN == 4 {
				c.rleft = int(binary.BigEndian.Uint32(c.rhdr[:]))
				if c.rleft == 0 {
					c.rhdrN = 0
				}
			}
			continue
		}
		k := min(len(b), c.rleft)
		c.rleft -= k
		b = b[k:]
		if c.rleft == 0 {
			c.rhdrN = 0
		}
	}
}

// end runs release once; only the session's goroutine calls it.
func (c *trackedConn) end() {
	if f := c.release; f != nil {
		c.release = nil
		f()
	}
}

// Write buffers milter packets that modify the message ('h', 'i', 'm', 'q',
// ...) and sends them together with the next packet that is a reply.
// go-milter (patched, milter/third_party/go-milter) writes a packet in one
// Write; v0.5.0 as published used up to three, so packets are still
// reassembled by their length prefix.
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
				c.end() // go-milter ends the session on a write error
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

// Close is called by go-milter, in the session's goroutine, when the
// session ends: the message in flight, if any, is released first. Other
// goroutines use shut.
func (c *trackedConn) Close() error {
	c.end()
	if c.br != nil {
		c.br.Reset(nil)
		readBufs.Put(c.br)
		c.br = nil
	}
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
// the same goroutine, so the new handler can find its connection. Only that
// goroutine uses its fields.
type listener struct {
	net.Listener
	srv  *Server
	last *trackedConn

	// A burst of accept errors or refused connections ends at the next
	// connection admitted; each is logged once, at its start.
	failing, refusing bool
}

// Accept returns the next connection admitted. A temporary accept error
// (out of file descriptors, of memory, a connection reset while queued)
// pauses and retries, as net/http does, instead of ending Serve and every
// session with it; a connection past milter.max_connections is closed at
// once. Both are counted, and logged once per burst.
func (l *listener) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !temporary(err) {
				return nil, err
			}
			pause = acceptPause(pause)
			l.acceptFailed(err, pause)
			select {
			case <-time.After(pause):
			case <-l.srv.closed: // the next Accept fails: listener closed
			}
			continue
		}
		pause = 0
		cfg := l.srv.cfg.Load()
		t := &trackedConn{Conn: c, idle: cfg.IdleTimeout, writeTimeout: cfg.WriteTimeout, quick: quickAckConn(c)}
		t.onClose = func() { l.srv.untrack(t) }
		switch l.srv.track(t) {
		case refusedClosing:
			c.Close()
			continue
		case refusedFull:
			c.Close()
			if !l.refusing {
				l.refusing = true
				l.srv.log.Warn("milter.max_connections open: closing new connections at once; the MTA applies its milter default action",
					"max_connections", cfg.MaxConnections)
			}
			continue
		}
		l.failing, l.refusing = false, false
		l.last = t
		return t, nil
	}
}

// acceptFailed counts a failed accept, and logs the first of a burst.
func (l *listener) acceptFailed(err error, pause time.Duration) {
	if l.srv.obs != nil {
		l.srv.obs.AcceptFailed()
	}
	if !l.failing {
		l.failing = true
		l.srv.log.Error("accepting milter connections failed; retrying with pauses up to 1s", "err", err, "pause", pause)
	}
}

var acceptRetry = []syscall.Errno{
	syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, // out of descriptors or memory
	syscall.EINTR, syscall.EAGAIN, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPERM, // the connection, a firewall
	syscall.EPROTO, syscall.ENOPROTOOPT, syscall.ENETDOWN, syscall.ENETUNREACH, syscall.EHOSTDOWN,
	syscall.EHOSTUNREACH, syscall.ENONET, syscall.EOPNOTSUPP, syscall.ETIMEDOUT,
}

// acceptPause is the pause after a failed accept: 5ms, doubling up to 1s.
func acceptPause(last time.Duration) time.Duration {
	if last == 0 {
		return 5 * time.Millisecond
	}
	return min(2*last, time.Second)
}

// temporary reports whether an accept error may pass: out of descriptors
// or memory, or an error of the queued connection, which Linux's accept(2)
// returns for the listening socket ("treat them like EAGAIN by retrying").
// A closed listener is not.
func temporary(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, e := range acceptRetry {
		if errors.Is(err, e) {
			return true
		}
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// shut closes the socket from outside the session (shutdown): the session's
// pending read fails, and go-milter then calls Close in its goroutine.
func (c *trackedConn) shut() { c.Conn.Close() }
