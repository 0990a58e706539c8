package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
)

// nullProtocol is what the null milter asks for: no reply to anything but
// end of message, no DATA and no unknown commands. It still receives every
// header and body chunk, so it costs the generator what a real milter costs
// in bytes, and nothing else: the harness's ceiling.
const nullProtocol = pNRConn | pNRHelo | pNRMail | pNRRcpt | pNRHdr | pNREOH | pNRBody |
	pNoUnknown | pNoData | pHdrLeadSpc

// NullMilter accepts every message at end of message and does no work.
type NullMilter struct {
	// Protocol is the protocol mask it negotiates (nullProtocol by default;
	// pNoUnknown|pNoData|pHdrLeadSpc makes it reply to every command).
	Protocol uint32
	// Verify, when set, is given each whole message (header fields as
	// received, CRLF, body) at end of message before it is accepted: the
	// floor of what any DKIM verifier costs on top of the null milter.
	Verify func(msg []byte)
	// QuickAck sets TCP quick-ack after each read of the connection, as
	// authmilter does: through an MTA that does not set TCP_NODELAY on its
	// milter socket, a milter that replies to nothing until end of message
	// otherwise makes the MTA wait for its delayed ACK.
	QuickAck bool

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Serve accepts connections on ln until Close.
func (n *NullMilter) Serve(ln net.Listener) error {
	n.mu.Lock()
	n.ln = ln
	n.conns = map[net.Conn]struct{}{}
	n.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		n.mu.Lock()
		n.conns[c] = struct{}{}
		n.mu.Unlock()
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.handle(c)
			n.mu.Lock()
			delete(n.conns, c)
			n.mu.Unlock()
		}()
	}
}

// noReplyFlag is the SMFIP_NR_* flag of each command that can have one.
var noReplyFlag = map[byte]uint32{
	cmdConnect: pNRConn, cmdHelo: pNRHelo, cmdMail: pNRMail, cmdRcpt: pNRRcpt,
	cmdData: pNRData, cmdHeader: pNRHdr, cmdEOH: pNREOH, cmdBody: pNRBody,
}

// Close stops the listener and every connection.
func (n *NullMilter) Close() {
	n.mu.Lock()
	if n.ln != nil {
		n.ln.Close()
	}
	for c := range n.conns {
		c.Close()
	}
	n.mu.Unlock()
	n.wg.Wait()
}

func (n *NullMilter) handle(c net.Conn) {
	defer c.Close()
	var rd io.Reader = c
	if n.QuickAck {
		rd = quickAckReader{c}
	}
	r := bufio.NewReaderSize(rd, 64<<10)
	var buf []byte
	proto := n.Protocol
	if proto == 0 {
		proto = nullProtocol
	}
	cont := []byte{0, 0, 0, 1, repContinue}
	accept := []byte{0, 0, 0, 1, repAccept}
	var msg []byte
	if n.Verify != nil {
		bp := msgBufs.Get().(*[]byte)
		msg = (*bp)[:0]
		defer func() { *bp = msg[:0]; msgBufs.Put(bp) }()
	}
	for {
		cmd, data, err := readPacket(r, &buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				return
			}
			return
		}
		if n.Verify != nil {
			msg = appendMessage(msg, cmd, data)
		}
		var out []byte
		switch cmd {
		case cmdOptNeg:
			if len(data) < 12 {
				return
			}
			offered := binary.BigEndian.Uint32(data[8:])
			var p packetWriter
			p.w = c
			opt := make([]byte, 12)
			binary.BigEndian.PutUint32(opt[0:], protoVersion)
			binary.BigEndian.PutUint32(opt[4:], 0)
			binary.BigEndian.PutUint32(opt[8:], proto&offered)
			proto &= offered
			p.packet(cmdOptNeg, opt)
			if p.flush() != nil {
				return
			}
			continue
		case cmdMacro, cmdAbort:
		case cmdQuit:
			return
		case cmdEOM:
			if n.Verify != nil {
				n.Verify(msg)
				msg = msg[:0]
			}
			out = accept
		default:
			out = cont
			if nr, ok := noReplyFlag[cmd]; ok {
				out = replyUnless(proto, nr, cont)
			}
		}
		if out != nil {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}

// appendMessage adds what a header, end-of-header or body packet carries
// to the message being rebuilt for -dkim-dns mode: "name:value" with the
// value's bare-LF folds as CRLF, the empty line, body octets (ABORT empties
// it). It allocates
// nothing beyond msg's growth.
func appendMessage(msg []byte, cmd byte, data []byte) []byte {
	switch cmd {
	case cmdHeader: // name NUL value NUL
		i := bytes.IndexByte(data, 0)
		if i <= 0 {
			return msg
		}
		msg = append(append(msg, data[:i]...), ':')
		val := bytes.TrimSuffix(data[i+1:], []byte{0})
		for {
			j := bytes.IndexByte(val, '\n')
			if j < 0 {
				break
			}
			msg = append(append(msg, val[:j]...), '\r', '\n')
			val = val[j+1:]
		}
		return append(append(msg, val...), '\r', '\n')
	case cmdEOH:
		return append(msg, '\r', '\n')
	case cmdBody:
		return append(msg, data...)
	case cmdAbort: // a message given up on: the next one starts afresh
		return msg[:0]
	}
	return msg
}

// msgBufs are the message buffers of -dkim-dns mode: a connection per
// message would otherwise grow a fresh one each time.
var msgBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func replyUnless(proto, nr uint32, rep []byte) []byte {
	if proto&nr != 0 {
		return nil
	}
	return rep
}

// quickAckReader re-arms quick-ack after each read: Linux leaves the mode
// by itself.
type quickAckReader struct{ c net.Conn }

func (q quickAckReader) Read(p []byte) (int, error) {
	n, err := q.c.Read(p)
	quickAck(q.c)
	return n, err
}
