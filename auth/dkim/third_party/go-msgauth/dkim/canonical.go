package dkim

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/bits"
	"strings"
	"sync"
)

// Canonicalization is a canonicalization algorithm.
type Canonicalization string

const (
	CanonicalizationSimple  Canonicalization = "simple"
	CanonicalizationRelaxed                  = "relaxed"
)

type canonicalizer interface {
	CanonicalizeHeader(s string) string
	CanonicalizeBody(w io.Writer) io.WriteCloser
}

var canonicalizers = map[Canonicalization]canonicalizer{
	CanonicalizationSimple:  new(simpleCanonicalizer),
	CanonicalizationRelaxed: new(relaxedCanonicalizer),
}

// The body canonicalizers below produce the same octets as those of
// go-msgauth v0.7.0 (canonical_v070_test.go keeps those as the reference)
// without allocating per Write: output goes through a scratch buffer taken
// from bodyBufs and returned on Close, and line breaks that may turn out to
// be trailing empty lines are held back as a count, not as bytes.

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

var crlfBytes = []byte(crlf)

// crlfRun is a run of CRLFs written in one piece by writeCRLFs.
var crlfRun = []byte(strings.Repeat(crlf, 512))

// writeCRLFs writes n CRLFs to w.
func writeCRLFs(w io.Writer, n int) error {
	for n > 0 {
		k := n
		if k > len(crlfRun)/2 {
			k = len(crlfRun) / 2
		}
		if _, err := w.Write(crlfRun[:2*k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// crlfFixer fixes any lone LF without a preceding CR.
type crlfFixer struct {
	cr bool
}

// Fix appends b to dst with a CR inserted before every LF that has none.
func (cf *crlfFixer) Fix(dst, b []byte) []byte {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			cf.cr = b[len(b)-1] == '\r'
			return append(dst, b...)
		}
		prevCR := cf.cr
		if i > 0 {
			prevCR = b[i-1] == '\r'
		}
		dst = append(dst, b[:i]...)
		if !prevCR {
			dst = append(dst, '\r')
		}
		dst = append(dst, '\n')
		cf.cr = false
		b = b[i+1:]
	}
	return dst
}

type simpleCanonicalizer struct{}

func (c *simpleCanonicalizer) CanonicalizeHeader(s string) string {
	return s
}

// simpleBodyCanonicalizer holds back the CRLFs at the end of what it has
// seen (they are dropped if nothing but line breaks follows, RFC 6376
// section 3.4.3), and a final CR whose LF may come with the next write.
type simpleBodyCanonicalizer struct {
	w         io.Writer
	crlfs     int  // CRLFs held back
	cr        bool // then a CR held back
	buf       *[]byte
	crlfFixer crlfFixer
}

func (c *simpleBodyCanonicalizer) Write(b []byte) (int, error) {
	written := len(b)
	if c.buf == nil {
		c.buf = getBodyBuf()
	}
	fb := c.crlfFixer.Fix((*c.buf)[:0], b)
	*c.buf = fb[:0]
	if len(fb) == 0 {
		return written, nil
	}
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
		return written, nil
	}
	// Content follows what is held back (for end == 0, the lone CR held
	// back is itself content): write both.
	if err := c.flush(); err != nil {
		return written, err
	}
	if end > 0 {
		if _, err := c.w.Write(fb[:end]); err != nil {
			return written, err
		}
	}
	c.crlfs = (len(fb) - end) / 2
	c.cr = (len(fb)-end)%2 == 1
	return written, nil
}

// flush writes what is held back.
func (c *simpleBodyCanonicalizer) flush() error {
	if err := writeCRLFs(c.w, c.crlfs); err != nil {
		return err
	}
	c.crlfs = 0
	if c.cr {
		c.cr = false
		if _, err := c.w.Write(crlfBytes[:1]); err != nil {
			return err
		}
	}
	return nil
}

func (c *simpleBodyCanonicalizer) Close() error {
	putBodyBuf(c.buf)
	c.buf = nil
	// The CRLFs held back are trailing empty lines, unless a lone CR ends
	// the body: then they are content.
	if c.cr {
		if err := c.flush(); err != nil {
			return err
		}
	}
	c.crlfs = 0
	_, err := c.w.Write(crlfBytes)
	return err
}

func (c *simpleCanonicalizer) CanonicalizeBody(w io.Writer) io.WriteCloser {
	return &simpleBodyCanonicalizer{w: w}
}

type relaxedCanonicalizer struct{}

func (c *relaxedCanonicalizer) CanonicalizeHeader(s string) string {
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return strings.TrimSpace(strings.ToLower(s)) + ":" + crlf
	}

	k = strings.TrimSpace(strings.ToLower(k))
	// RFC 6376 section 3.4.2: unfold (CRLF removed), runs of WSP (SP and
	// HTAB only) become one SP, WSP at the start and end of the value is
	// deleted. A CR not part of CRLF is not WSP: it stays, as dkimpy and
	// Mail::DKIM keep it (v0.7.0 took it for WSP).
	var b strings.Builder
	b.Grow(len(k) + len(v) + 3)
	b.WriteString(k)
	b.WriteByte(':')
	start, space := b.Len(), false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\r' && i+1 < len(v) && v[i+1] == '\n':
			i++
		case c == ' ' || c == '\t':
			space = true
		default:
			if space && b.Len() > start {
				b.WriteByte(' ')
			}
			space = false
			b.WriteByte(c)
		}
	}
	b.WriteString(crlf)
	return b.String()
}

// maxHeldBreaks bounds the line break octets a relaxed body canonicalizer
// holds back as bytes. Only line breaks mixed with lone CRs are held as
// bytes (a run of CRLFs is a count), so only such bodies can reach it.
const maxHeldBreaks = 1 << 20

// errHeldBreaks is returned by Write when maxHeldBreaks is exceeded: a
// permanent failure of that signature's verification.
var errHeldBreaks error = permFailError("body has too many line breaks mixed with lone CRs")

// relaxedBodyCanonicalizer holds back line breaks until content follows
// (trailing empty lines are dropped, RFC 6376 section 3.4.4): held (line
// breaks before a lone CR, as bytes), then crlfs CRLFs, then perhaps a CR
// whose LF may come next. A run of WSP is held back as one flag.
type relaxedBodyCanonicalizer struct {
	w       io.Writer
	held    []byte
	crlfs   int
	cr      bool
	wsp     bool
	lastCR  bool // the last input octet was a CR (the crlfFixer state)
	written bool
	buf     *[]byte
}

// ordinary reports the octets that the relaxed body canonicalization
// copies as they are.
var ordinary = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	t[' '], t['\t'], t['\r'], t['\n'] = false, false, false, false
	return t
}()

// directRun is the length from which a run of octets that relaxed
// canonicalization leaves as they are is written without a copy.
const directRun = 2048

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// stops flags (0x80) each octet of x, eight octets in little-endian
// order, where a run of octets that relaxed canonicalization leaves as
// they are may stop: an octet below 0x20 (HTAB, CR and LF among them), a
// space before an octet below 0x21, and a space in the last octet, whose
// successor x does not hold. The flags are exact per octet: no carry or
// borrow crosses octets.
func stops(x uint64) uint64 {
	const hi7 = 0x7f7f7f7f7f7f7f7f
	// below21: octets < 0x21. (x|0x80)-0x21 borrows from no neighbour.
	below21 := ^((x | msb) - lsb*0x21) & ^x & msb
	// space: octets == 0x20, as zero octets of x^0x20...
	z := x ^ (lsb * 0x20)
	space := ^(((z & hi7) + hi7) | z | hi7)
	return (below21 &^ space) | (space & (below21 >> 8)) | (space & (0x80 << 56))
}

// runEnd returns the end of the run, from b[i] (an ordinary octet), of
// octets that relaxed canonicalization leaves as they are: ordinary
// octets, single spaces between ordinary octets, and CRLFs followed by an
// ordinary octet. The run ends on an ordinary octet.
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

func (c *relaxedBodyCanonicalizer) Write(b []byte) (int, error) {
	written := len(b)
	if c.buf == nil {
		c.buf = getBodyBuf()
	}
	out := (*c.buf)[:0]
	var err error
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
				} else if out, err = c.flush(out); err != nil {
					break
				}
				pending = false
			}
			if j-i < directRun {
				out = append(out, b[i:j]...)
			} else {
				// A long run goes to the writer as it is, without a copy.
				c.written = true
				if len(out) > 0 {
					_, err = c.w.Write(out)
					out = out[:0]
				}
				if err == nil {
					_, err = c.w.Write(b[i:j])
				}
				if err != nil {
					break
				}
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
			err = c.breakCR()
			c.lastCR = true
		case '\n':
			if !c.lastCR {
				// A bare LF is taken as CRLF.
				err = c.breakCR()
			}
			c.wsp = false
			c.cr = false
			c.crlfs++
			c.lastCR = false
		}
		if err != nil {
			break
		}
	}
	if len(out) > 0 {
		c.written = true
		if _, werr := c.w.Write(out); err == nil {
			err = werr
		}
	}
	*c.buf = out[:0]
	return written, err
}

// breakCR takes a CR. A CR held back before it was a lone one: it and the
// CRLFs before it are now held as bytes.
func (c *relaxedBodyCanonicalizer) breakCR() error {
	c.wsp = false
	if c.cr {
		if len(c.held)+2*c.crlfs+1 > maxHeldBreaks {
			return errHeldBreaks
		}
		for ; c.crlfs > 0; c.crlfs-- {
			c.held = append(c.held, crlf...)
		}
		c.held = append(c.held, '\r')
	}
	c.cr = true
	return nil
}

// flush appends what is held back to out (content follows it). A long run
// of CRLFs goes straight to the writer.
func (c *relaxedBodyCanonicalizer) flush(out []byte) ([]byte, error) {
	out = append(out, c.held...)
	c.held = c.held[:0]
	if c.crlfs > 256 {
		if len(out) > 0 {
			c.written = true
			if _, err := c.w.Write(out); err != nil {
				return out[:0], err
			}
			out = out[:0]
		}
		if err := writeCRLFs(c.w, c.crlfs); err != nil {
			return out, err
		}
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
	return out, nil
}

func (c *relaxedBodyCanonicalizer) Close() error {
	putBodyBuf(c.buf)
	c.buf = nil
	c.held = nil
	if c.written {
		if _, err := c.w.Write(crlfBytes); err != nil {
			return err
		}
	}
	return nil
}

func (c *relaxedCanonicalizer) CanonicalizeBody(w io.Writer) io.WriteCloser {
	return &relaxedBodyCanonicalizer{w: w}
}

type limitedWriter struct {
	W io.Writer
	N int64
}

func (w *limitedWriter) Write(b []byte) (int, error) {
	if w.N <= 0 {
		return len(b), nil
	}

	skipped := 0
	if int64(len(b)) > w.N {
		b = b[:w.N]
		skipped = int(int64(len(b)) - w.N)
	}

	n, err := w.W.Write(b)
	w.N -= int64(n)
	return n + skipped, err
}
