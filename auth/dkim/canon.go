package dkim

import (
	"bytes"
	"encoding/binary"
	"hash"
	"math/bits"
	"strings"
	"sync"
)

// Body canonicalization (RFC 6376 §3.4.3 simple, §3.4.4 relaxed) while the
// body streams in. Both canonicalizers give, for every input and every split
// into writes, the octets go-msgauth v0.7.0 gives (the differential tests
// check it), without allocating per write: output goes through a pooled
// scratch buffer, and line breaks that may turn out to be trailing empty
// lines are held back as a count, not as bytes. A bare LF is taken as CRLF,
// as go-msgauth does.

// bodyHash receives a canonicalized body: it counts it and hashes its first
// limit octets (all of them when limit < 0; l=, RFC 6376 §3.5).
type bodyHash struct {
	h     hash.Hash
	limit int64
	n     int64 // canonicalized octets seen
	// tooManyBreaks: the relaxed canonicalizer would have held more than
	// maxHeldBreaks octets; the body hash is then unusable.
	tooManyBreaks bool
}

func (b *bodyHash) write(p []byte) {
	if b.limit < 0 {
		b.h.Write(p)
	} else if b.n < b.limit {
		b.h.Write(p[:min(int64(len(p)), b.limit-b.n)])
	}
	b.n += int64(len(p))
}

// bodyCanonicalizer is a streaming body canonicalization writing to a
// bodyHash. close ends the body and returns the scratch buffer.
type bodyCanonicalizer interface {
	write(p []byte)
	close()
}

func newBodyCanonicalizer(relaxed bool, out *bodyHash) bodyCanonicalizer {
	if relaxed {
		return &relaxedBody{out: out}
	}
	return &simpleBody{out: out}
}

// bodyBufs holds the canonicalizers' scratch buffers.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// maxBodyBuf is the largest scratch buffer returned to bodyBufs.
const maxBodyBuf = 256 << 10

func getBodyBuf() *[]byte { return bodyBufs.Get().(*[]byte) }

func putBodyBuf(b *[]byte) {
	if b == nil || cap(*b) > maxBodyBuf {
		return
	}
	*b = (*b)[:0]
	bodyBufs.Put(b)
}

var crlf = []byte("\r\n")

// crlfRun is what held CRLFs are written from, a slice at a time.
var crlfRun = []byte(strings.Repeat("\r\n", 512))

// writeCRLFs writes n CRLFs to out.
func writeCRLFs(out *bodyHash, n int) {
	for n > 0 {
		k := min(n, len(crlfRun)/2)
		out.write(crlfRun[:2*k])
		n -= k
	}
}

// simpleBody: the body as it is, trailing empty lines removed, ending in
// one CRLF ("\r\n" for an empty body). It holds back the CRLFs at the end of
// what it has seen and a final CR whose LF may come with the next write.
type simpleBody struct {
	out    *bodyHash
	crlfs  int  // CRLFs held back
	cr     bool // then a CR held back
	lastCR bool // the last input octet was a CR (for bare LFs)
	buf    *[]byte
}

// fixLF returns b with a CR inserted before every LF that has none: b
// itself when there is no such LF, else a copy in the scratch buffer.
func (c *simpleBody) fixLF(b []byte) []byte {
	var dst []byte
	copying, start := false, 0
	prevCR := c.lastCR
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		j += i
		if j > 0 {
			prevCR = b[j-1] == '\r'
		}
		if !prevCR {
			if !copying {
				if c.buf == nil {
					c.buf = getBodyBuf()
				}
				dst, copying = (*c.buf)[:0], true
			}
			dst = append(append(dst, b[start:j]...), '\r')
			start = j
		}
		i = j + 1
	}
	c.lastCR = b[len(b)-1] == '\r'
	if !copying {
		return b
	}
	dst = append(dst, b[start:]...)
	*c.buf = dst[:0]
	return dst
}

func (c *simpleBody) write(b []byte) {
	if len(b) == 0 {
		return
	}
	fb := c.fixLF(b)
	if c.cr && fb[0] == '\n' {
		// The CR held back and this LF are a CRLF.
		c.crlfs++
		c.cr = false
		fb = fb[1:]
	}
	// fb[end:] is a run of CRLFs, perhaps followed by a CR.
	end := len(fb)
	if end > 0 && fb[end-1] == '\r' {
		end--
	}
	for end >= 2 && fb[end-2] == '\r' && fb[end-1] == '\n' {
		end -= 2
	}
	if end == 0 && !c.cr {
		// Only line breaks: they extend what is held back.
		c.crlfs += len(fb) / 2
		c.cr = len(fb)%2 == 1
		return
	}
	// Content follows what is held back (for end == 0, the lone CR held
	// back is itself content): write both.
	c.flush()
	if end > 0 {
		c.out.write(fb[:end])
	}
	c.crlfs = (len(fb) - end) / 2
	c.cr = (len(fb)-end)%2 == 1
}

// flush writes what is held back.
func (c *simpleBody) flush() {
	writeCRLFs(c.out, c.crlfs)
	c.crlfs = 0
	if c.cr {
		c.cr = false
		c.out.write(crlf[:1])
	}
}

func (c *simpleBody) close() {
	putBodyBuf(c.buf)
	c.buf = nil
	// The CRLFs held back are trailing empty lines, unless a lone CR ends
	// the body: then they are content.
	if c.cr {
		c.flush()
	}
	c.crlfs = 0
	c.out.write(crlf)
}

// maxHeldBreaks bounds the line break octets the relaxed canonicalizer
// holds back as bytes. Only line breaks mixed with lone CRs are held as
// bytes (a run of CRLFs is a count), so only such bodies can reach it;
// beyond it the signature is a permerror (errHeldReason) instead of memory
// growing with the body. go-msgauth v0.7.0 has no bound.
const maxHeldBreaks = 1 << 20

// errHeldReason is the reason given for a body over maxHeldBreaks.
const errHeldReason = "body has too many line breaks mixed with lone CRs"

// relaxedBody: WSP runs become one SP, WSP at line ends is dropped,
// trailing empty lines are removed, a non-empty body ends in CRLF. Line
// breaks are held back until content follows: held (line breaks before a
// lone CR, as bytes), then crlfs CRLFs, then perhaps a CR whose LF may come
// next. A run of WSP is held back as one flag. A lone CR is content, as
// go-msgauth keeps it.
type relaxedBody struct {
	out     *bodyHash
	held    []byte
	crlfs   int
	cr      bool
	wsp     bool
	lastCR  bool // the last input octet was a CR (for bare LFs)
	written bool
	buf     *[]byte
}

// ordinary reports the octets that relaxed body canonicalization copies as
// they are.
var ordinary = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	t[' '], t['\t'], t['\r'], t['\n'] = false, false, false, false
	return t
}()

// directRun is the length from which a run of octets that relaxed
// canonicalization leaves as they are is hashed without a copy.
const directRun = 2048

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// stops flags (0x80) each octet of x, eight octets in little-endian order,
// where a run of octets that relaxed canonicalization leaves as they are
// may stop: an octet below 0x20 (HTAB, CR and LF among them), a space
// before an octet below 0x21, and a space in the last octet, whose
// successor x does not hold. The flags are exact per octet: no carry or
// borrow crosses octets.
func stops(x uint64) uint64 {
	const hi7 = 0x7f7f7f7f7f7f7f7f
	// below21: octets < 0x21. (x|0x80)-0x21 borrows from no neighbour.
	below21 := ^((x | msb) - lsb*0x21) & ^x & msb
	// space: octets == 0x20, as zero octets of x^0x20.
	z := x ^ (lsb * 0x20)
	space := ^(((z & hi7) + hi7) | z | hi7)
	return (below21 &^ space) | (space & (below21 >> 8)) | (space & (0x80 << 56))
}

// runEnd returns the end of the run, from b[i] (an ordinary octet), of
// octets that relaxed canonicalization leaves as they are: ordinary octets,
// single spaces between ordinary octets, and CRLFs followed by an ordinary
// octet. The run ends on an ordinary octet.
func runEnd(b []byte, i int) int {
	j := i + 1
	for {
		// Eight octets at a time while all are ordinary or single spaces
		// before an ordinary octet (see stops).
		for j+8 <= len(b) {
			if t := stops(binary.LittleEndian.Uint64(b[j:])); t != 0 {
				j += bits.TrailingZeros64(t) >> 3
				break
			}
			j += 8
		}
		if j >= len(b) {
			return len(b)
		}
		switch ch := b[j]; {
		case ordinary[ch]:
			j++
		case ch == ' ' && j+1 < len(b) && ordinary[b[j+1]]:
			j += 2
		case ch == '\r' && j+2 < len(b) && b[j+1] == '\n' && ordinary[b[j+2]]:
			j += 3
		default:
			return j
		}
	}
}

func (c *relaxedBody) write(b []byte) {
	if c.out.tooManyBreaks {
		return // the result is permerror whatever follows
	}
	if c.buf == nil {
		c.buf = getBodyBuf()
	}
	out := (*c.buf)[:0]
	// pending: something is held back (line breaks or a WSP run).
	pending := len(c.held) > 0 || c.crlfs > 0 || c.cr || c.wsp
	for i := 0; i < len(b); {
		ch := b[i]
		if ordinary[ch] {
			j := runEnd(b, i)
			if pending {
				if c.wsp && c.crlfs == 0 && !c.cr && len(c.held) == 0 {
					out = append(out, ' ') // the common case: a WSP run inside a line
					c.wsp = false
				} else {
					out = c.flush(out)
				}
				pending = false
			}
			if j-i < directRun {
				out = append(out, b[i:j]...)
			} else {
				// A long run is hashed as it is, without a copy.
				c.written = true
				if len(out) > 0 {
					c.out.write(out)
					out = out[:0]
				}
				c.out.write(b[i:j])
			}
			i = j
			c.lastCR = false
			continue
		}
		i++
		pending = true
		switch ch {
		case ' ', '\t':
			c.wsp = true
			c.lastCR = false
		case '\r':
			c.breakCR()
			c.lastCR = true
		case '\n':
			if !c.lastCR {
				c.breakCR() // a bare LF is taken as CRLF
			}
			c.wsp = false
			c.cr = false
			c.crlfs++
			c.lastCR = false
		}
		if c.out.tooManyBreaks {
			c.held = nil
			return
		}
	}
	if len(out) > 0 {
		c.written = true
		c.out.write(out)
	}
	*c.buf = out[:0]
}

// breakCR takes a CR. A CR held back before it was a lone one: it and the
// CRLFs before it are now held as bytes, at most maxHeldBreaks of them.
func (c *relaxedBody) breakCR() {
	c.wsp = false
	if c.cr {
		if len(c.held)+2*c.crlfs+1 > maxHeldBreaks {
			c.out.tooManyBreaks = true
			return
		}
		for ; c.crlfs > 0; c.crlfs-- {
			c.held = append(c.held, crlf...)
		}
		c.held = append(c.held, '\r')
	}
	c.cr = true
}

// flush appends what is held back to out (content follows it). A long run
// of CRLFs is hashed from crlfRun, not copied.
func (c *relaxedBody) flush(out []byte) []byte {
	out = append(out, c.held...)
	c.held = c.held[:0]
	if c.crlfs > len(crlfRun)/4 {
		if len(out) > 0 {
			c.written = true
			c.out.write(out)
			out = out[:0]
		}
		writeCRLFs(c.out, c.crlfs)
	} else {
		for k := c.crlfs; k > 0; k-- {
			out = append(out, crlf...)
		}
	}
	c.crlfs = 0
	if c.cr {
		out = append(out, '\r')
		c.cr = false
	}
	if c.wsp {
		out = append(out, ' ')
		c.wsp = false
	}
	return out
}

func (c *relaxedBody) close() {
	putBodyBuf(c.buf)
	c.buf = nil
	c.held = nil
	if c.written && !c.out.tooManyBreaks {
		c.out.write(crlf)
	}
}
