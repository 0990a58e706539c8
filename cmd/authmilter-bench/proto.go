package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Milter protocol constants (libmilter's mfdef.h), the subset an MTA needs.
const (
	protoVersion = 6

	cmdAbort   = 'A'
	cmdBody    = 'B'
	cmdConnect = 'C'
	cmdMacro   = 'D'
	cmdEOM     = 'E'
	cmdHelo    = 'H'
	cmdHeader  = 'L'
	cmdMail    = 'M'
	cmdEOH     = 'N'
	cmdOptNeg  = 'O'
	cmdQuit    = 'Q'
	cmdRcpt    = 'R'
	cmdData    = 'T'

	repAccept     = 'a'
	repContinue   = 'c'
	repDiscard    = 'd'
	repReject     = 'r'
	repTempfail   = 't'
	repReplyCode  = 'y'
	repSkip       = 's'
	repProgress   = 'p'
	repQuarantine = 'q'
	repAddHeader  = 'h'
	repInsHeader  = 'i'
	repChgHeader  = 'm'

	// Actions and protocol steps Postfix 3.7 offers (observed).
	mtaActions  = 0x1ff
	mtaProtocol = 0x1fffff

	pNoConnect  = 1 << 0
	pNoHelo     = 1 << 1
	pNoMail     = 1 << 2
	pNoRcpt     = 1 << 3
	pNoBody     = 1 << 4
	pNoHdrs     = 1 << 5
	pNoEOH      = 1 << 6
	pNRHdr      = 1 << 7
	pNoUnknown  = 1 << 8
	pNoData     = 1 << 9
	pSkip       = 1 << 10
	pRcptRej    = 1 << 11
	pNRConn     = 1 << 12
	pNRHelo     = 1 << 13
	pNRMail     = 1 << 14
	pNRRcpt     = 1 << 15
	pNRData     = 1 << 16
	pNRUnknown  = 1 << 17
	pNREOH      = 1 << 18
	pNRBody     = 1 << 19
	pHdrLeadSpc = 1 << 20

	// maxChunk is the largest body chunk an MTA sends.
	maxChunk = 65535
	// maxPacket bounds a packet read from a milter.
	maxPacket = 1 << 20
)

// Macro stages of SMFIR_SETSYMLIST.
const (
	stageConnect = iota
	stageHelo
	stageMail
	stageRcpt
	stageData
	stageEOM
	stageEOH
	numStages
)

var errPacket = errors.New("bench: malformed milter packet")

// packetWriter builds packets in one buffer; flush sends them in one write.
type packetWriter struct {
	w   io.Writer
	buf []byte
}

// packet appends one packet: command byte then the parts concatenated.
func (p *packetWriter) packet(cmd byte, parts ...[]byte) {
	n := 1
	for _, b := range parts {
		n += len(b)
	}
	p.buf = binary.BigEndian.AppendUint32(p.buf, uint32(n))
	p.buf = append(p.buf, cmd)
	for _, b := range parts {
		p.buf = append(p.buf, b...)
	}
}

func (p *packetWriter) flush() error {
	if len(p.buf) == 0 {
		return nil
	}
	_, err := p.w.Write(p.buf)
	p.buf = p.buf[:0]
	return err
}

// readPacket reads one packet into buf (grown as needed) and returns the
// command byte and data; data aliases buf.
func readPacket(r *bufio.Reader, buf *[]byte) (byte, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxPacket {
		return 0, nil, fmt.Errorf("%w: length %d", errPacket, n)
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return b[0], b[1:], nil
}

// cstrings splits NUL-terminated strings.
func cstrings(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		out = append(out, string(b[:i]))
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}

// cstr appends s and a NUL.
func cstr(dst []byte, s string) []byte {
	dst = append(dst, s...)
	return append(dst, 0)
}
