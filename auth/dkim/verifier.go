package dkim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"strings"
	"sync"
)

type verifierState int

const (
	stateHeader   verifierState = iota // buffering the header block
	stateBody                          // header done, streaming the body
	stateOverflow                      // header block too large: not verified
	stateClosed                        // Close or Abort called
)

// Verifier verifies the DKIM signatures of one message while it streams in.
// Write the message as on the wire (header fields with CRLF line ends, folds
// as CRLF + WSP, the empty line, then the body, in any chunks), then call
// Close for the results, or Abort to drop the message. A Verifier is used by
// one goroutine at a time.
//
// The header block is buffered (at most MaxHeaderBytes); when its empty line
// arrives the signatures are parsed, their key lookups start and their
// header hashes are taken. Body writes are canonicalized and hashed as they
// come, on the caller's goroutine, once per distinct body canonicalization
// and l=: the body is never held in memory, and a write never waits for DNS.
type Verifier struct {
	ctx    context.Context
	cancel context.CancelFunc
	opts   Options
	log    *slog.Logger

	state     verifierState
	hdr       []byte  // the header block, including its empty line
	hdrBuf    *[]byte // the pooled buffer under hdr (dropHeader)
	lineStart int     // start of the line being scanned in hdr
	scanned   int     // hdr[:scanned] has been searched for the empty line

	fields  []string // the header fields, once the block has ended (HeaderFields)
	sigs    []*sigState
	fetches map[string]*fetch
	bodies  []*bodyState

	results []Result
}

// sigState is what is known about one DKIM-Signature field.
type sigState struct {
	field      string // the whole field, ending in CRLF
	value      string // the field value
	sig        *signature
	err        error // parse error
	skipped    bool  // beyond MaxSignatures: not verified
	fetch      *fetch
	body       *bodyState // the body hash it is checked against
	headerHash [sha256.Size]byte
}

// fetch is one key lookup started at the end of the header block.
type fetch struct {
	done chan struct{}
	txts []string
	err  error
}

// NewVerifier returns a Verifier for one message. ctx bounds the key
// lookups (give it a deadline below the MTA's milter timeouts).
func NewVerifier(ctx context.Context, opts Options) *Verifier {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	return &Verifier{ctx: ctx, cancel: cancel, opts: opts, log: opts.Logger}
}

// Write takes the next bytes of the message. It never fails; once the
// message is known to be unverifiable (header block too large) further bytes
// are dropped.
func (v *Verifier) Write(p []byte) (int, error) {
	switch v.state {
	case stateHeader:
		old := len(v.hdr)
		v.takeHeader()
		k := headerPart(bytes.Index(p, lfLF), bytes.Index(p, lfCRLF), len(p))
		v.hdr = append(v.hdr, p[:min(k, MaxHeaderBytes-old)]...)
		if end := v.headerWritten(); end >= 0 {
			v.writeBody(p[end-old:])
		}
	case stateBody:
		v.writeBody(p)
	}
	return len(p), nil
}

// WriteString is Write for a string: header fields are appended to the
// header block without a conversion to []byte first.
func (v *Verifier) WriteString(s string) (int, error) {
	switch v.state {
	case stateHeader:
		old := len(v.hdr)
		v.takeHeader()
		k := headerPart(strings.Index(s, "\n\n"), strings.Index(s, "\n\r\n"), len(s))
		v.hdr = append(v.hdr, s[:min(k, MaxHeaderBytes-old)]...)
		if end := v.headerWritten(); end >= 0 && end-old < len(s) {
			v.writeBody([]byte(s[end-old:]))
		}
	case stateBody:
		v.writeBody([]byte(s))
	}
	return len(s), nil
}

var lfLF, lfCRLF = []byte("\n\n"), []byte("\n\r\n")

// headerPart says how much of a write of n bytes to append to the header
// block, given where "\n\n" and "\n\r\n" first occur in it (-1: not at
// all): up to the first empty line, the body after it is not copied. At
// least two bytes, for an empty line begun in what was written before.
func headerPart(lflf, lfcrlf, n int) int {
	k := n
	if lflf >= 0 {
		k = lflf + 2
	}
	if lfcrlf >= 0 && lfcrlf+3 < k {
		k = lfcrlf + 3
	}
	return max(k, min(2, n))
}

// headerWritten runs after bytes were appended to the header block: when
// the block is complete it starts the body and returns the block's length,
// else -1.
func (v *Verifier) headerWritten() int {
	end := v.findHeaderEnd()
	if end < 0 {
		if len(v.hdr) >= MaxHeaderBytes {
			v.overflow()
		}
		return -1
	}
	v.hdr = v.hdr[:end]
	v.startBody()
	return end
}

// hdrBufs hold header blocks while they arrive: most fit in 8 KiB.
var hdrBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// takeHeader gives the header block a pooled buffer at the first write.
func (v *Verifier) takeHeader() {
	if v.hdr == nil {
		v.hdrBuf = hdrBufs.Get().(*[]byte)
		v.hdr = (*v.hdrBuf)[:0] // *v.hdrBuf itself stays as it was
	}
}

// dropHeader returns the pooled buffer once nothing refers to it
// (splitFields copies). A block
// that outgrew it was copied to a larger array, left to the collector; the
// pooled one goes back as it was.
func (v *Verifier) dropHeader() {
	if v.hdrBuf != nil {
		hdrBufs.Put(v.hdrBuf)
	}
	v.hdrBuf = nil
	v.hdr = nil
}

// findHeaderEnd looks for the empty line that ends the header block (CRLF or,
// tolerated, bare LF) and returns the offset just past it, or -1.
func (v *Verifier) findHeaderEnd() int {
	for v.scanned < len(v.hdr) {
		i := bytes.IndexByte(v.hdr[v.scanned:], '\n')
		if i < 0 {
			v.scanned = len(v.hdr)
			return -1
		}
		nl := v.scanned + i
		line := v.hdr[v.lineStart:nl]
		v.scanned, v.lineStart = nl+1, nl+1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return nl + 1
		}
	}
	return -1
}

// splitFields splits a header block into fields (lines; a line starting
// with SP or HTAB continues the previous field), each ending in CRLF, as
// go-msgauth's textproto reader does. A bare LF ends a line too.
func splitFields(hdr []byte) []string {
	if !bytes.HasSuffix(hdr, crlf) || bytes.Count(hdr, lf) != bytes.Count(hdr, crlf) {
		return splitFieldsCopy(hdr)
	}
	// Every line ends in CRLF, as the milter writes them: each field is a
	// piece of one copy of the block.
	hs := string(hdr)
	var fields []string
	// start: where the field being collected begins (-1: none yet);
	// pos: the line being looked at.
	start, pos := -1, 0
	for pos < len(hs) {
		end := pos + strings.IndexByte(hs[pos:], '\n') + 1
		if end-pos == 2 {
			break // the empty line
		}
		if start < 0 || (hs[pos] != ' ' && hs[pos] != '\t') {
			if start >= 0 {
				fields = append(fields, hs[start:pos])
			}
			start = pos
		}
		pos = end
	}
	if start >= 0 {
		fields = append(fields, hs[start:pos])
	}
	return fields
}

var lf = []byte("\n")

// splitFieldsCopy is splitFields for a block with other line ends.
func splitFieldsCopy(hdr []byte) []string {
	var fields []string
	for len(hdr) > 0 {
		i := bytes.IndexByte(hdr, '\n')
		var line []byte
		if i < 0 {
			line, hdr = hdr, nil
		} else {
			line, hdr = hdr[:i], hdr[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if len(fields) > 0 && (line[0] == ' ' || line[0] == '\t') {
			fields[len(fields)-1] += string(line) + "\r\n"
		} else {
			fields = append(fields, string(line)+"\r\n")
		}
	}
	return fields
}

// findSignatures picks the DKIM-Signature fields in header order.
func (v *Verifier) findSignatures(fields []string) {
	for _, f := range fields {
		name, value, _ := strings.Cut(f, ":")
		if strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			v.sigs = append(v.sigs, &sigState{field: f, value: strings.TrimSpace(value)})
		}
	}
}

// startBody runs when the header block is complete: parse the signatures,
// start the key lookups, take the header hashes, set up the body hashes.
func (v *Verifier) startBody() {
	v.state = stateBody
	fields := splitFields(v.hdr)
	v.fields = fields
	v.dropHeader()
	v.findSignatures(fields)
	if len(v.sigs) == 0 {
		return
	}
	v.fetches = make(map[string]*fetch)
	var buf *[]byte
	var index *fieldIndex
	for i, s := range v.sigs {
		if i >= v.opts.MaxSignatures {
			s.skipped = true // RFC 6376 §6.1: verifiers MAY limit the work per message
			continue
		}
		s.sig, s.err = parseSignature(s.value)
		if s.err != nil {
			v.log.Debug("dkim: unusable signature", "index", i, "err", s.err)
			continue
		}
		s.fetch = v.startFetch(s.sig.keyName())
		if s.sig.algorithm == "rsa-sha1" {
			continue // policy whatever the hashes (RFC 8301 §3.1)
		}
		s.body = v.bodyFor(s.sig)
		if buf == nil {
			buf, index = getBodyBuf(), newFieldIndex(fields)
		}
		s.headerHash, *buf = headerHash(index, s.field, s.sig, (*buf)[:0])
	}
	putBodyBuf(buf)
}

// startFetch starts (or joins) the key lookup for name.
func (v *Verifier) startFetch(name string) *fetch {
	name = strings.ToLower(name)
	if f := v.fetches[name]; f != nil {
		return f
	}
	f := &fetch{done: make(chan struct{})}
	v.fetches[name] = f
	v.opts.Go(func() {
		defer close(f.done)
		f.txts, f.err = v.opts.Resolver.LookupTXT(v.ctx, name)
		v.log.Debug("dkim: key lookup", "name", name, "records", len(f.txts), "err", f.err)
	})
	return f
}

func (v *Verifier) writeBody(p []byte) {
	if len(p) == 0 {
		return
	}
	for _, b := range v.bodies {
		b.canon.write(p)
	}
}

// overflow gives up on a header block larger than MaxHeaderBytes.
func (v *Verifier) overflow() {
	v.state = stateOverflow
	v.findSignatures(splitFields(v.hdr))
	v.dropHeader()
	v.log.Debug("dkim: header block too large", "limit", MaxHeaderBytes, "signatures", len(v.sigs))
}

// Close ends the message, waits for the verifications and returns one Result
// per DKIM-Signature field, top-most first (none: an empty slice). It may be
// called more than once.
func (v *Verifier) Close() []Result {
	switch v.state {
	case stateClosed:
		return v.results
	case stateHeader:
		// No empty line: the message is all header. Complete it.
		if len(v.hdr) > 0 {
			if v.hdr[len(v.hdr)-1] != '\n' {
				v.hdr = append(v.hdr, "\r\n"...)
			}
			v.hdr = append(v.hdr, "\r\n"...)
			v.startBody()
		}
	}
	v.finish()
	v.results = make([]Result, 0, len(v.sigs))
	for i, s := range v.sigs {
		v.results = append(v.results, v.evaluate(i, s))
	}
	v.cancel()
	v.state = stateClosed
	return v.results
}

// Abort drops the message: lookups are cancelled and every goroutine has
// ended when it returns.
func (v *Verifier) Abort() {
	if v.state == stateClosed {
		return
	}
	if v.state == stateHeader {
		v.dropHeader()
	}
	v.cancel()
	v.finish()
	v.results = nil
	v.state = stateClosed
}

// finish ends the body hashes and waits for the lookups.
func (v *Verifier) finish() {
	for _, b := range v.bodies {
		b.close()
	}
	for _, f := range v.fetches {
		<-f.done
	}
}
