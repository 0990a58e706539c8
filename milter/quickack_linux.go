package milter

import (
	"net"
	"syscall"
)

// quickAckConn returns what quickAck needs of a TCP connection, or nil.
func quickAckConn(c net.Conn) syscall.RawConn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// quickAck puts a TCP socket in quick-ack mode, so that what the MTA sent
// is acknowledged at once instead of after the delayed-ACK timer (~40 ms).
// The MTA writes the no-reply steps (RCPT, headers, body chunks) as small
// segments, and Postfix does not set TCP_NODELAY on its milter socket:
// without an ACK from us, Nagle's algorithm holds each next segment until
// the timer fires, about 40 ms per message. Linux leaves quick-ack mode by
// itself, so it is set again after each read.
func quickAck(rc syscall.RawConn) {
	if rc == nil {
		return
	}
	rc.Control(setQuickAck)
}

func setQuickAck(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}
