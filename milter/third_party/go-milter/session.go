package milter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/textproto"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

var errCloseSession = errors.New("Stop current milter processing")

// maxPacketSize limits the command byte and payload before allocation
// (Server.MaxPacketSize when set).
const maxPacketSize = 1 << 20

// milterSession keeps session state during MTA communication
type milterSession struct {
	server   *Server
	actions  OptAction
	protocol OptProtocol
	conn     net.Conn
	headers  textproto.MIMEHeader
	macros   map[string]string
	backend  Milter

	// The session's packet buffers, reused from packet to packet: a body
	// chunk is up to 64 KiB, and a fresh buffer per packet made most of a
	// milter's allocations. A packet read is valid until the next
	// ReadPacket (Milter.BodyChunk's chunk until BodyChunk returns).
	rhdr [4]byte
	rmsg Message
	rbuf []byte
	wbuf []byte // also holds modifications until the next reply

	// br buffers reads from conn: an MTA streams the commands it expects
	// no reply to, many packets per segment, and a packet's length and
	// body read straight from conn cost a system call each.
	br *bufio.Reader
	// pktStart is when the packet being read began (its first byte was
	// read); zero between packets. See Server.ReadTimeout.
	pktStart time.Time
}

// maxKeptBuffer bounds the packet buffers a session keeps between packets;
// a larger packet (up to maxPacketSize) gets a buffer of its own.
const maxKeptBuffer = 64<<10 + 64

// packetBufs holds the read buffers of ended sessions: an MTA opens a
// connection per SMTP session, often per message.
var packetBufs = sync.Pool{New: func() interface{} { b := make([]byte, 0, maxKeptBuffer); return &b }}

// packetReaders holds the read buffers (br) of ended sessions.
var packetReaders = sync.Pool{New: func() interface{} { return bufio.NewReaderSize(nil, 16<<10) }}

// releaseBuffers returns the session's read buffers to their pools.
func (c *milterSession) releaseBuffers() {
	if c.rbuf != nil { // only ever taken from packetBufs
		b := c.rbuf[:0]
		packetBufs.Put(&b)
	}
	c.rbuf = nil
	c.rmsg = Message{}
	if c.br != nil {
		c.br.Reset(nil)
		packetReaders.Put(c.br)
		c.br = nil
	}
}

// connReader is what the session's read buffer reads from: the connection,
// each read with Server.ReadTimeout's deadline (authmilter patch): between
// packets ReadTimeout from now, within a packet ReadTimeout from its start,
// so a peer trickling a byte at a time cannot hold the session forever.
type connReader struct{ c *milterSession }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	if t := c.readTimeout(); t > 0 {
		start := c.pktStart
		if start.IsZero() {
			start = time.Now()
		}
		c.conn.SetReadDeadline(start.Add(t))
	}
	return c.conn.Read(p)
}

// ReadPacket reads incoming milter packet. The packet (its Data) is valid
// until the next ReadPacket.
func (c *milterSession) ReadPacket() (*Message, error) {
	if c.br == nil {
		c.br = packetReaders.Get().(*bufio.Reader)
		c.br.Reset(connReader{c})
	}
	c.pktStart = time.Time{}
	if _, err := io.ReadFull(c.br, c.rhdr[:1]); err != nil {
		return nil, err
	}
	if c.readTimeout() > 0 {
		c.pktStart = time.Now()
	}
	if _, err := io.ReadFull(c.br, c.rhdr[1:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // part of the length was read
		}
		return nil, err
	}
	length := binary.BigEndian.Uint32(c.rhdr[:])
	if length == 0 {
		return nil, errors.New("milter: invalid zero-length packet")
	}
	if max := c.maxPacketSize(); length > max {
		return nil, fmt.Errorf("milter: packet length %d exceeds %d bytes", length, max)
	}
	if c.rbuf == nil {
		c.rbuf = *packetBufs.Get().(*[]byte)
	}
	data, err := c.readData(int(length))
	if err != nil {
		return nil, err
	}
	c.rmsg = Message{Code: data[0], Data: data[1:]}
	return &c.rmsg, nil
}

// readData reads a packet of n bytes: into the session's buffer when it
// fits, else into a buffer of its own that grows (doubling) as the bytes
// arrive (authmilter patch: v0.5.0 allocated the announced length at once,
// so four bytes from a peer cost 1 MiB).
func (c *milterSession) readData(n int) ([]byte, error) {
	if n <= cap(c.rbuf) {
		data := c.rbuf[:n]
		_, err := io.ReadFull(c.br, data)
		return data, err
	}
	data := c.rbuf[:cap(c.rbuf)]
	if _, err := io.ReadFull(c.br, data); err != nil {
		return nil, err
	}
	for len(data) < n {
		size := 2 * len(data)
		if size > n {
			size = n
		}
		grown := make([]byte, size)
		copy(grown, data)
		if _, err := io.ReadFull(c.br, grown[len(data):]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // part of the packet was read
			}
			return nil, err
		}
		data = grown
	}
	return data, nil
}

// maxPacketSize is the server's MaxPacketSize, or v0.5.0's 1 MiB.
func (c *milterSession) maxPacketSize() uint32 {
	if c.server != nil && c.server.MaxPacketSize != 0 {
		return c.server.MaxPacketSize
	}
	return maxPacketSize
}

// readTimeout and writeTimeout are the server's ReadTimeout and
// WriteTimeout (0: none, as in v0.5.0).
func (c *milterSession) readTimeout() time.Duration {
	if c.server == nil {
		return 0
	}
	return c.server.ReadTimeout
}

func (c *milterSession) writeTimeout() time.Duration {
	if c.server == nil {
		return 0
	}
	return c.server.WriteTimeout
}

// logf writes to the server's ErrorLog, or the standard logger.
func (c *milterSession) logf(format string, v ...interface{}) {
	if c.server != nil && c.server.ErrorLog != nil {
		c.server.ErrorLog.Printf(format, v...)
		return
	}
	log.Printf(format, v...)
}

func readPacket(conn net.Conn, timeout time.Duration) (*Message, error) {
	if timeout != 0 {
		conn.SetReadDeadline(time.Now().Add(timeout))
		defer conn.SetReadDeadline(time.Time{})
	}

	// read packet length
	var length uint32
	if err := binary.Read(conn, binary.BigEndian, &length); err != nil {
		return nil, err
	}
	if length == 0 {
		return nil, errors.New("milter: invalid zero-length packet")
	}
	if length > maxPacketSize {
		return nil, fmt.Errorf("milter: packet length %d exceeds %d bytes", length, maxPacketSize)
	}

	// read packet data
	data := make([]byte, length)
	if _, err := io.ReadFull(conn, data); err != nil {
		return nil, err
	}

	// prepare response data
	message := Message{
		Code: data[0],
		Data: data[1:],
	}

	return &message, nil
}

// WritePacket sends a milter response packet to socket stream, in one
// write through the session's buffer. A message modification ('h', 'm',
// 'i', 'q', ...) is held in the buffer and written with the next packet
// that is not one, the reply to end of message (authmilter patch): the
// MTA then waits for one segment, not for a delayed ACK per packet. Each
// write has Server.WriteTimeout's deadline.
func (m *milterSession) WritePacket(msg *Message) error {
	b := append(m.wbuf, 0, 0, 0, 0, msg.Code)
	binary.BigEndian.PutUint32(b[len(b)-5:], uint32(len(msg.Data)+1))
	b = append(b, msg.Data...)
	if isModification(msg.Code) {
		m.wbuf = b
		return nil
	}
	m.wbuf = b[:0]
	if cap(b) > maxKeptBuffer {
		m.wbuf = nil
	}
	if t := m.writeTimeout(); t > 0 {
		m.conn.SetWriteDeadline(time.Now().Add(t))
	}
	_, err := m.conn.Write(b)
	return err
}

// isModification reports whether a response code is a message
// modification, which the MTA reads before the reply to end of message.
func isModification(code byte) bool {
	switch code {
	case '+', '-', '2', 'b', 'e', 'h', 'i', 'm', 'q':
		return true
	}
	return false
}

func writePacket(conn net.Conn, msg *Message, timeout time.Duration) error {
	if timeout != 0 {
		conn.SetWriteDeadline(time.Now().Add(timeout))
		defer conn.SetWriteDeadline(time.Time{})
	}

	buffer := bufio.NewWriter(conn)

	// calculate and write response length
	length := uint32(len(msg.Data) + 1)
	if err := binary.Write(buffer, binary.BigEndian, length); err != nil {
		return err
	}

	// write response code
	if err := buffer.WriteByte(msg.Code); err != nil {
		return err
	}

	// write response data
	if _, err := buffer.Write(msg.Data); err != nil {
		return err
	}

	// flush data to network socket stream
	if err := buffer.Flush(); err != nil {
		return err
	}

	return nil
}

// Process processes incoming milter commands
func (m *milterSession) Process(msg *Message) (Response, error) {
	switch Code(msg.Code) {
	case CodeAbort:
		// abort current message and start over
		defer func() {
			m.headers = nil
			m.macros = nil
		}()
		return nil, m.backend.Abort(newModifier(m))

	case CodeBody:
		// body chunk
		return m.backend.BodyChunk(msg.Data, newModifier(m))

	case CodeConn:
		// new connection, get hostname
		hostname := readCString(msg.Data)
		if len(msg.Data) < len(hostname)+2 {
			return nil, errors.New("milter: malformed connect command")
		}
		msg.Data = msg.Data[len(hostname)+1:]
		// get protocol family
		protocolFamily := msg.Data[0]
		msg.Data = msg.Data[1:]
		// get port
		var port uint16
		if protocolFamily == '4' || protocolFamily == '6' {
			if len(msg.Data) < 2 {
				return RespTempFail, nil
			}
			port = binary.BigEndian.Uint16(msg.Data)
			msg.Data = msg.Data[2:]
		}
		// get address
		address := readCString(msg.Data)
		// convert address and port to human readable string
		family := map[byte]string{
			'U': "unknown",
			'L': "unix",
			'4': "tcp4",
			'6': "tcp6",
		}
		// authmilter patch: a backend with ConnectAddr is given the address
		// as the MTA sent it, to parse itself: Sendmail sends an IPv6 client
		// as "IPv6:2001:db8::25", for which net.ParseIP returns nil.
		if b, ok := m.backend.(interface {
			ConnectAddr(host, family string, port uint16, addr string, m *Modifier) (Response, error)
		}); ok {
			return b.ConnectAddr(hostname, family[protocolFamily], port, address, newModifier(m))
		}
		// run handler and return
		return m.backend.Connect(
			hostname,
			family[protocolFamily],
			port,
			net.ParseIP(address),
			newModifier(m))

	case CodeMacro:
		if len(msg.Data) == 0 {
			return nil, errors.New("milter: malformed macro command")
		}
		// define macros: the packet's replace the stage's before. The map
		// is emptied and reused (patch; v0.5.0 made a new one per packet,
		// ~25 per message as Postfix sends them).
		if m.macros == nil {
			m.macros = make(map[string]string)
		} else {
			for k := range m.macros {
				delete(m.macros, k)
			}
		}
		// convert data to Go strings
		data := decodeCStrings(msg.Data[1:])
		if len(data) != 0 {
			if len(data)%2 == 1 {
				data = append(data, "")
			}

			// store data in a map
			for i := 0; i < len(data); i += 2 {
				m.macros[data[i]] = data[i+1]
			}
		}
		// do not send response
		return nil, nil

	case CodeEOB:
		// call and return milter handler. The message's header fields are
		// dropped after it (authmilter patch): v0.5.0 kept them until
		// ABORT, which Sendmail does not send after end of message, so
		// the map grew with every message of a connection.
		defer func() { m.headers = nil }()
		return m.backend.Body(newModifier(m))

	case CodeHelo:
		// helo command
		name := strings.TrimSuffix(string(msg.Data), null)
		return m.backend.Helo(name, newModifier(m))

	case CodeHeader:
		// make sure headers is initialized
		if m.headers == nil {
			m.headers = make(textproto.MIMEHeader)
		}
		// authmilter patch: the name is the packet's first C string and
		// the value the rest, less one terminating NUL. v0.5.0 split the
		// packet at every NUL and dropped, unseen by the handler, a field
		// that did not split in two (a NUL in the value); now the handler
		// gets the field with its NUL and decides.
		name := readCString(msg.Data)
		value := ""
		if len(msg.Data) > len(name) {
			value = strings.TrimSuffix(string(msg.Data[len(name)+1:]), null)
		}
		if m.server == nil || !m.server.NoHeaderMap {
			m.headers.Add(name, value)
		}
		return m.backend.Header(name, value, newModifier(m))

	case CodeMail:
		// envelope from address
		from := readCString(msg.Data)
		// authmilter patch: a backend with MailFromArgs is also given the
		// ESMTP parameters that follow the address, one C-string each
		// ("BODY=8BITMIME", "REQUIRETLS"); v0.5.0 drops them.
		if b, ok := m.backend.(interface {
			MailFromArgs(from string, args []string, m *Modifier) (Response, error)
		}); ok {
			var args []string
			if len(from) < len(msg.Data) {
				args = decodeCStrings(msg.Data[len(from)+1:])
			}
			return b.MailFromArgs(strings.Trim(from, "<>"), args, newModifier(m))
		}
		return m.backend.MailFrom(strings.Trim(from, "<>"), newModifier(m))

	case CodeEOH:
		// end of headers
		return m.backend.Headers(m.headers, newModifier(m))

	case CodeOptNeg:
		// ignore request and prepare response buffer
		var buffer bytes.Buffer
		// prepare response data
		for _, value := range []uint32{serverProtocolVersion, uint32(m.actions), uint32(m.protocol)} {
			if err := binary.Write(&buffer, binary.BigEndian, value); err != nil {
				return nil, err
			}
		}
		// append requested symlist
		if m.server.Actions&OptSetSymList != 0 {
			for stage, macros := range m.server.SymList {
				binary.Write(&buffer, binary.BigEndian, stage)
				for i, macro := range macros {
					if i != 0 {
						buffer.WriteByte(' ')
					}
					buffer.WriteString(macro)
				}
				buffer.WriteByte(0)
			}
		}
		// build and send packet
		return NewResponse('O', buffer.Bytes()), nil

	case CodeQuit:
		// client requested session close
		return nil, errCloseSession

	case CodeRcpt:
		// envelope to address
		to := readCString(msg.Data)
		return m.backend.RcptTo(strings.Trim(to, "<>"), newModifier(m))

	case CodeData:
		// data, ignore

	default:
		// print error and close session
		m.logf("Unrecognized command code: %c", msg.Code)
		return nil, errCloseSession
	}

	// by default continue with next milter message
	return RespContinue, nil
}

// noReplyFlag is the SMFIP_NR_* option under which the MTA expects no
// reply to a command (0: a reply is always expected).
func noReplyFlag(c Code) OptProtocol {
	switch c {
	case CodeConn:
		return OptNoConnReply
	case CodeHelo:
		return OptNoHeloReply
	case CodeMail:
		return OptNoMailReply
	case CodeRcpt:
		return OptNoRcptReply
	case CodeData:
		return OptNoDataReply
	case CodeHeader:
		return OptNoHeaderReply
	case CodeEOH:
		return OptNoEOHReply
	case CodeBody:
		return OptNoBodyReply
	}
	return 0
}

// HandleMilterComands processes all milter commands in the same connection
func (m *milterSession) HandleMilterCommands() {
	defer func() {
		if v := recover(); v != nil {
			m.logf("panic handling command: %v\n%s", v, debug.Stack())
		}

		m.conn.Close()
		m.releaseBuffers()
	}()

	for {
		msg, err := m.ReadPacket()
		if err != nil {
			if err != io.EOF {
				m.logf("Error reading milter command: %v", err)
			}
			return
		}

		resp, err := m.Process(msg)
		if err != nil {
			if err != errCloseSession {
				// log error condition
				m.logf("Error performing milter command: %v", err)
			}
			return
		}

		if resp != nil && m.protocol&noReplyFlag(Code(msg.Code)) != 0 {
			// No reply to this command was negotiated (authmilter patch):
			// the MTA would read one as the answer to its next command.
			// v0.5.0 answers some itself (continue after a header it
			// cannot split, tempfail for a malformed connect).
			if !resp.Continue() {
				m.logf("milter: no reply to command %q was negotiated; dropped %q", msg.Code, resp.Response().Code)
			}
			resp = nil
		}

		// ignore empty responses
		if resp != nil {
			// send back response message
			if err = m.WritePacket(resp.Response()); err != nil {
				m.logf("Error writing packet: %v", err)
				return
			}

			if !resp.Continue() {
				// prepare backend for next message
				m.backend = m.server.NewMilter()
			}
		}
	}
}
