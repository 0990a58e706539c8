package mime

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Errors handed to Handler.End.
var (
	ErrUnterminated = errors.New("mime: multipart ended without its close delimiter")
	ErrTooLarge     = errors.New("mime: part larger than the size kept")
	ErrLimit        = errors.New("mime: nesting depth or part count over the limit")
	ErrHeader       = errors.New("mime: part header too large")
)

// Limits bound the walk. Zero values take the defaults.
type Limits struct {
	MaxDepth       int // nested multiparts below the top level (default 8)
	MaxParts       int // entities in the whole message (default 500)
	MaxHeaderBytes int // the MIME header of one part (default 16 KiB)
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 8
	}
	if l.MaxParts <= 0 {
		l.MaxParts = 500
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 16 << 10
	}
	return l
}

// maxLine is the longest line that can be a boundary delimiter: "--", a
// boundary of at most 70 characters (RFC 2046 §5.1.1), "--" and room for
// transport padding. Longer lines are passed on in pieces.
const maxLine = 1000

// Entity is one MIME entity of the body.
type Entity struct {
	Part     string            // IMAP part number; "TEXT" for the top level
	Type     string            // lower-case media type; "text/plain" when absent
	Params   map[string]string // Content-Type parameters, lower-case names
	Encoding string            // lower-case Content-Transfer-Encoding; "7bit" when absent
	Parent   *Entity           // nil at the top level
	Index    int               // 1-based position among the parent's parts
	Depth    int               // 0 at the top level
	// Data is the Handler's own per-entity state.
	Data any
}

// Sink says what the walker hands the Handler for one entity.
type Sink struct {
	// W receives, for a multipart/signed, its first body part as
	// transmitted (header included, the CRLF before the delimiter
	// excluded); for a leaf, its body as transmitted (not decoded; the
	// CRLF before a delimiter excluded, a single-part message's last line
	// end included).
	W io.Writer
	// Keep, for a leaf, asks for its body as transmitted, up to Keep bytes,
	// handed to End (ErrTooLarge past that).
	Keep int
}

// Handler receives the entities of a body as they are found.
type Handler interface {
	// Begin is called when an entity's header has ended.
	Begin(e *Entity) Sink
	// End is called once for every entity Begin saw, children before their
	// parent: body is what Sink.Keep asked for; err is nil or one of the
	// package's errors.
	End(e *Entity, body []byte, err error)
}

// sink is one writer being fed, with the line end held back from it: the
// CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
type sink struct {
	w       io.Writer
	pending []byte
}

func (s *sink) write(piece, term []byte) {
	if len(s.pending) > 0 {
		s.w.Write(s.pending) //nolint:errcheck // sinks are hashes and buffers
	}
	if len(piece) > 0 {
		s.w.Write(piece) //nolint:errcheck
	}
	s.pending = term
}

// frame is an open multipart.
type frame struct {
	e        *Entity
	boundary []byte    // "--" boundary
	parts    int       // delimiters seen
	signedW  io.Writer // a multipart/signed's Sink.W
	signed   *sink     // feeds signedW while in part 1
}

// leaf is the entity whose header or body lines arrive now.
type leaf struct {
	e        *Entity // nil in a preamble
	inHeader bool
	header   []byte
	badHead  bool
	out      *sink // Sink.W
	keep     int
	kept     []byte
	tooLarge bool
	done     bool // a multipart's own body (after its close delimiter) or preamble
}

func (l *leaf) Write(p []byte) (int, error) {
	if l.tooLarge {
		return len(p), nil
	}
	if len(l.kept)+len(p) > l.keep {
		l.tooLarge, l.kept = true, nil
		return len(p), nil
	}
	l.kept = append(l.kept, p...)
	return len(p), nil
}

// Walker walks one message body. Feed it with Write and finish with Close;
// it is not safe for concurrent use.
type Walker struct {
	h      Handler
	lim    Limits
	top    *Entity
	inert  bool
	stack  []*frame
	cur    leaf
	keeper sink // feeds cur's kept body
	parts  int
	line   []byte // a line being assembled across writes
	mid    bool   // part of the current line was already passed on
	closed bool
}

// NewWalker starts a walk of a body whose top-level header has the given
// Content-Type and Content-Transfer-Encoding values (raw, possibly folded;
// "" when absent).
func NewWalker(contentType, encoding string, lim Limits, h Handler) *Walker {
	w := &Walker{h: h, lim: lim.withDefaults()}
	e := &Entity{Part: "TEXT"}
	setType(e, contentType, encoding)
	w.parts, w.top = 1, e
	w.begin(e)
	if len(w.stack) == 0 && w.cur.out == nil && w.cur.keep == 0 {
		w.inert = true
	}
	return w
}

// Write takes the next body chunk (CRLF line ends, as a milter receives it).
func (w *Walker) Write(p []byte) (int, error) {
	n := len(p)
	if w.inert || w.closed {
		return n, nil
	}
	for len(p) > 0 {
		if len(w.line) == 0 && !w.mid && !w.cur.inHeader {
			p = w.bulk(p)
			if len(p) == 0 {
				break
			}
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.line = append(w.line, p...)
			if len(w.line) > maxLine {
				w.piece(w.line, nil)
				w.line, w.mid = w.line[:0], true
			}
			break
		}
		l := p[:i+1]
		p = p[i+1:]
		if len(w.line) > 0 {
			w.line = append(w.line, l...)
			l = w.line
		}
		body, term := splitTerm(l)
		w.piece(body, term)
		w.line, w.mid = w.line[:0], false
	}
	return n, nil
}

// Close ends the walk: every entity still open ends, those inside an
// unterminated multipart with ErrUnterminated.
func (w *Walker) Close() {
	if w.closed {
		return
	}
	if w.inert {
		w.closed = true
		w.h.End(w.top, nil, nil)
		return
	}
	if len(w.line) > 0 {
		w.piece(w.line, nil)
		w.line = w.line[:0]
	}
	w.closed = true
	w.endLeaf(len(w.stack) > 0)
	for len(w.stack) > 0 {
		w.pop(ErrUnterminated)
	}
}

// Line ends, as held back by a sink: never a slice of the input, which is
// reused.
var (
	crlf = []byte("\r\n")
	lf   = []byte("\n")
)

func splitTerm(l []byte) (body, term []byte) {
	if bytes.HasSuffix(l, crlf) {
		return l[:len(l)-2], crlf
	}
	return l[:len(l)-1], lf
}

// bulk passes on, in one piece, the whole lines at the start of p up to
// the next line that starts with "-" (only such a line can be a delimiter)
// and returns the rest, which starts a line. The sinks see the same bytes
// as line by line: the last line end is held back all the same.
func (w *Walker) bulk(p []byte) []byte {
	if p[0] == '-' {
		return p
	}
	n := bytes.Index(p, []byte("\n-")) + 1
	if n == 0 {
		n = bytes.LastIndexByte(p, '\n') + 1
	}
	if n == 0 {
		return p
	}
	body, term := splitTerm(p[:n])
	w.feed(len(w.stack), body, term)
	return p[n:]
}

// piece handles one line (term set) or a piece of an overlong line (term
// nil, or w.mid set for the rest of it).
func (w *Walker) piece(body, term []byte) {
	if !w.mid && len(body) <= maxLine && bytes.HasPrefix(body, []byte("--")) {
		if d, closing, ok := w.delimiter(body); ok {
			w.atDelimiter(d, closing, body, term)
			return
		}
	}
	w.feed(len(w.stack), body, term)
	if w.cur.inHeader {
		w.headerLine(body, term)
	}
}

// feed passes a piece to the sinks of the frames below depth and to the
// current leaf.
func (w *Walker) feed(depth int, body, term []byte) {
	for _, f := range w.stack[:depth] {
		if f.signed != nil {
			f.signed.write(body, term)
		}
	}
	if depth == len(w.stack) && !w.cur.inHeader {
		if w.cur.out != nil {
			w.cur.out.write(body, term)
		}
		if w.cur.keep > 0 {
			w.keeper.write(body, term)
		}
	}
}

// delimiter finds the innermost open multipart whose delimiter the line is.
func (w *Walker) delimiter(line []byte) (int, bool, bool) {
	for i := len(w.stack) - 1; i >= 0; i-- {
		b := w.stack[i].boundary
		if !bytes.HasPrefix(line, b) {
			continue
		}
		rest := bytes.TrimRight(line[len(b):], " \t")
		switch {
		case len(rest) == 0:
			return i, false, true
		case len(rest) == 2 && rest[0] == '-' && rest[1] == '-':
			return i, true, true
		}
	}
	return 0, false, false
}

func (w *Walker) atDelimiter(d int, closing bool, body, term []byte) {
	// Frames opened inside this part were never closed.
	for len(w.stack) > d+1 {
		w.endLeaf(true)
		w.pop(ErrUnterminated)
	}
	w.endLeaf(false)
	f := w.stack[d]
	if f.signed != nil {
		f.signed = nil // its pending line end belongs to this delimiter
	}
	w.feed(d, body, term)
	if closing {
		w.stack = w.stack[:d]
		w.h.End(f.e, nil, nil)
		w.cur = leaf{e: f.e, done: true}
		return
	}
	f.parts++
	w.parts++
	if w.parts > w.lim.MaxParts {
		w.cur = leaf{done: true}
		return
	}
	part := strconv.Itoa(f.parts)
	if f.e.Depth > 0 {
		part = f.e.Part + "." + part
	}
	e := &Entity{Part: part, Parent: f.e, Index: f.parts, Depth: f.e.Depth + 1}
	w.cur = leaf{e: e, inHeader: true}
	if f.parts == 1 && f.signedW != nil {
		f.signed = &sink{w: f.signedW}
	}
}

func (w *Walker) headerLine(body, term []byte) {
	c := &w.cur
	if term != nil && len(body) == 0 && !w.mid {
		c.inHeader = false
		e := c.e
		if c.badHead {
			w.h.Begin(e)
			w.h.End(e, nil, ErrHeader)
			w.cur = leaf{done: true}
			return
		}
		ct, cte := headerValues(c.header)
		setType(e, ct, cte)
		c.header = nil
		w.begin(e)
		return
	}
	if c.badHead {
		return
	}
	if len(c.header)+len(body)+1 > w.lim.MaxHeaderBytes {
		c.badHead, c.header = true, nil
		return
	}
	c.header = append(c.header, body...)
	if term != nil {
		c.header = append(c.header, '\n')
	}
}

// begin asks the Handler about an entity whose header has ended and opens
// it: a multipart becomes a frame, anything else the current leaf.
func (w *Walker) begin(e *Entity) {
	s := w.h.Begin(e)
	if b := e.Params["boundary"]; len(e.Type) > 10 && e.Type[:10] == "multipart/" && b != "" && len(b) <= 200 {
		if e.Depth >= w.lim.MaxDepth {
			w.h.End(e, nil, ErrLimit)
			w.cur = leaf{done: true}
			return
		}
		f := &frame{e: e, boundary: []byte("--" + b)}
		if e.Type == "multipart/signed" {
			f.signedW = s.W
		}
		w.stack = append(w.stack, f)
		w.cur = leaf{e: e, done: true}
		return
	}
	w.cur = leaf{e: e}
	if s.W != nil {
		w.cur.out = &sink{w: s.W}
	}
	if s.Keep > 0 {
		w.cur.keep = s.Keep
		w.keeper = sink{w: &w.cur}
	}
}

// endLeaf ends the current leaf, if it is one.
func (w *Walker) endLeaf(unterminated bool) {
	c := &w.cur
	if c.e == nil || c.done {
		w.cur = leaf{done: true}
		return
	}
	if c.inHeader {
		// A part cut off inside its header: report it as empty.
		w.h.Begin(c.e)
	}
	if !unterminated && len(w.stack) == 0 {
		// The message's last line end belongs to the body: no delimiter
		// follows.
		if c.out != nil {
			c.out.write(nil, nil)
		}
		if c.keep > 0 {
			w.keeper.write(nil, nil)
		}
	}
	var err error
	switch {
	case c.tooLarge:
		err = ErrTooLarge
	case unterminated:
		err = ErrUnterminated
	}
	kept := c.kept
	if err != nil {
		kept = nil
	}
	w.h.End(c.e, kept, err)
	w.cur = leaf{done: true}
}

// pop ends the innermost open multipart.
func (w *Walker) pop(err error) {
	f := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	w.h.End(f.e, nil, err)
	w.cur = leaf{done: true}
}
