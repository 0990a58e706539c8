package main

import (
	"net"
	"syscall"
)

// quickAck puts the socket in TCP quick-ack mode before a read, as the
// issue's reference figures were taken: the MTA acknowledges at once, so a
// milter that writes its end-of-message answer in two small packets
// without TCP_NODELAY (libmilter) is not also measured waiting on the
// MTA's delayed ACK. Linux leaves quick-ack mode by itself, hence once per
// read.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
