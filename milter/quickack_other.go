//go:build !linux

package milter

import (
	"net"
	"syscall"
)

// quickAckConn: quick-ack mode is Linux's; elsewhere nothing is done.
func quickAckConn(net.Conn) syscall.RawConn { return nil }

func quickAck(syscall.RawConn) {}
