package milter

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// trackedConn is one milter connection from the MTA, as go-milter reads and
// writes it (go-milter, patched, sets each packet's deadlines, buffers the
// reads, and sends the header changes with the final reply in one write).
// It acknowledges what the MTA sent at once (quickAck), and records whether
// a message is in flight, so that shutdown can wait for it.
type trackedConn struct {
	net.Conn
	// quick is the socket quick-ack mode is set on after each read (nil
	// when not TCP on Linux).
	quick syscall.RawConn

	busy    atomic.Bool // a message is between MAIL FROM and its final reply
	lastEOM atomic.Bool // the next write is a message's final reply
}

// Read reads from the socket, then puts it back in quick-ack mode.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	quickAck(c.quick)
	return n, err
}

// Write writes what go-milter sends. After end of message that is one
// write, the header changes and the final reply; the message is then no
// longer in flight.
func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.lastEOM.Swap(false) {
		c.busy.Store(false)
	}
	return n, err
}

// listener admits the connections Serve accepts. Only Serve's goroutine
// uses its fields.
type listener struct {
	net.Listener
	srv *Server

	// A burst of accept errors or refused connections ends at the next
	// connection admitted; each is logged once, at its start.
	failing, refusing bool
}

// Accept returns the next connection admitted. A temporary accept error
// (out of file descriptors, of memory, a connection reset while queued)
// pauses and retries, as net/http does, instead of ending Serve and every
// session with it; a connection past milter.max_connections is closed at
// once. Both are counted, and logged once per burst.
func (l *listener) Accept() (*trackedConn, error) {
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
		t := &trackedConn{Conn: c, quick: quickAckConn(c)}
		switch l.srv.track(t) {
		case refusedClosing:
			c.Close()
			continue
		case refusedFull:
			c.Close()
			if !l.refusing {
				l.refusing = true
				l.srv.log.Warn("milter.max_connections open: closing new connections at once; the MTA applies its milter default action",
					"max_connections", l.srv.cfg.Load().MaxConnections)
			}
			continue
		}
		l.failing, l.refusing = false, false
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
