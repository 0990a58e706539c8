package openpgp

import (
	"bytes"
	"context"

	"github.com/authmilter/authmilter/auth/mime"
)

// Inline finds clear-signed blocks (RFC 9580 §7) in the body of a text part
// as it streams, hashing each block's text as it goes and keeping only its
// signature, up to a size. It also notes OpenPGP message blocks, which are
// encrypted or otherwise not clear-signed. Feed it with Write; Verify
// checks what it found.
type Inline struct {
	part    string
	maxSig  int
	maxBlks int

	state   int
	carry   []byte // the start of an unfinished line, while searching
	midLine bool   // searching inside a line that cannot hold a marker
	line    []byte
	long    bool // the line is over maxLine
	hash    *Hasher
	first   bool // no text line hashed yet in this block
	sig     []byte
	blocks  []block
	skipped int // blocks over maxBlks
	message bool
}

type block struct {
	hash *Hasher
	sig  []byte
	err  string
}

const (
	searching = iota
	startLine // the line after a marker was found
	armorHeaders
	text
	signature
)

var (
	beginSigned    = []byte("-----BEGIN PGP SIGNED MESSAGE-----")
	beginMessage   = []byte("-----BEGIN PGP MESSAGE-----")
	beginSignature = []byte("-----BEGIN PGP SIGNATURE-----")
	endSignature   = []byte("-----END PGP SIGNATURE-----")
	marker         = []byte("-----BEGIN PGP ")
)

// NewInline returns an Inline for the text part named part, keeping
// signatures of up to maxSig bytes and at most maxBlocks blocks.
func NewInline(part string, maxSig, maxBlocks int) *Inline {
	return &Inline{part: part, maxSig: maxSig, maxBlks: maxBlocks}
}

// Write takes the next bytes of the part's body (not transfer-encoded).
func (in *Inline) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if in.state == searching {
			// Only a marker at a line start matters: search for it
			// without splitting lines.
			buf := p
			if len(in.carry) > 0 {
				buf = append(in.carry, p...)
			}
			i := indexAtLineStart(buf, !in.midLine)
			if i < 0 {
				in.keepTail(buf)
				return n, nil
			}
			in.carry, in.midLine = in.carry[:0], false
			in.line = in.line[:0]
			p = buf[i:]
			in.state = startLine
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			in.appendLine(p)
			return n, nil
		}
		in.appendLine(p[:i])
		p = p[i+1:]
		if in.long {
			in.tooLong()
		} else {
			in.handle(bytes.TrimSuffix(in.line, []byte("\r")))
		}
		in.line, in.long = in.line[:0], false
	}
	return n, nil
}

// maxLine bounds a line inside a block; a longer one ends the block.
const maxLine = 4096

func (in *Inline) appendLine(p []byte) {
	if in.long || len(in.line)+len(p) > maxLine {
		in.long = true
		return
	}
	in.line = append(in.line, p...)
}

// tooLong ends the block an overlong line is in.
func (in *Inline) tooLong() {
	if in.state != startLine && in.state != searching {
		in.blocks = append(in.blocks, block{err: "clear-signed block with a line longer than 4096 bytes"})
	}
	in.state, in.sig = searching, nil
}

// keepTail keeps the start of buf's last, unfinished line while it may
// still become a marker.
func (in *Inline) keepTail(buf []byte) {
	tail, start := buf, !in.midLine
	if j := bytes.LastIndexByte(buf, '\n'); j >= 0 {
		tail, start = buf[j+1:], true
	}
	if start && len(tail) < len(marker) {
		in.carry = append(in.carry[:0], tail...)
		in.midLine = false
		return
	}
	in.carry, in.midLine = in.carry[:0], true
}

// indexAtLineStart finds the marker where a line starts in buf (at 0 only
// when start says buf begins a line).
func indexAtLineStart(buf []byte, start bool) int {
	off := 0
	for {
		i := bytes.Index(buf[off:], marker)
		if i < 0 {
			return -1
		}
		i += off
		if (i == 0 && start) || (i > 0 && buf[i-1] == '\n') {
			return i
		}
		off = i + 1
	}
}

// handle takes one line without its line end.
func (in *Inline) handle(l []byte) {
	switch in.state {
	case startLine, searching:
		in.state = searching
		switch {
		case bytes.Equal(bytes.TrimRight(l, " \t"), beginSigned):
			if len(in.blocks) >= in.maxBlks {
				in.skipped++
				return
			}
			in.state, in.hash, in.first = armorHeaders, nil, true
		case bytes.Equal(bytes.TrimRight(l, " \t"), beginMessage):
			in.message = true
		}
	case armorHeaders:
		if len(bytes.TrimSpace(l)) == 0 {
			if in.hash == nil {
				in.hash = NewHasher("")
			}
			in.state = text
			return
		}
		if k, v, ok := bytes.Cut(l, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Hash")) {
			in.hash = NewHasher(string(v))
		}
	case text:
		if bytes.Equal(bytes.TrimRight(l, " \t"), beginSignature) {
			in.state, in.sig = signature, append(in.sig[:0], l...)
			in.sig = append(in.sig, '\n')
			return
		}
		// Dash-escaped lines lose "- "; trailing whitespace is not
		// signed; lines are joined with CRLF and the last line end is
		// not signed (RFC 9580 §7.1, §7.2).
		l = bytes.TrimPrefix(l, []byte("- "))
		l = bytes.TrimRight(l, " \t")
		if !in.first {
			in.hash.Write([]byte("\r\n"))
		}
		in.first = false
		in.hash.Write(l)
	case signature:
		if len(in.sig)+len(l)+1 > in.maxSig {
			in.blocks = append(in.blocks, block{err: "signature block larger than the size kept"})
			in.state, in.sig = searching, nil
			return
		}
		in.sig = append(in.sig, l...)
		in.sig = append(in.sig, '\n')
		if bytes.Equal(bytes.TrimRight(l, " \t"), endSignature) {
			in.blocks = append(in.blocks, block{hash: in.hash, sig: in.sig})
			in.state, in.sig = searching, nil
		}
	}
}

// Found reports whether the part holds any OpenPGP block.
func (in *Inline) Found() bool {
	return len(in.blocks) > 0 || in.message || in.state != searching
}

// VerifyInline checks the blocks an Inline found; from lists the author addresses.
func (v *Verifier) VerifyInline(ctx context.Context, in *Inline, from []string) []mime.Result {
	if (len(in.line) > 0 || in.long) && in.state != searching {
		// The part's last line had no line end.
		if in.long {
			in.tooLong()
		} else {
			in.handle(bytes.TrimSuffix(in.line, []byte("\r")))
		}
		in.line, in.long = nil, false
	}
	var rs []mime.Result
	for _, b := range in.blocks {
		if b.err != "" {
			rs = append(rs, mime.Result{Method: mime.MethodOpenPGP, Result: mime.StatusPermerror, Part: in.part, Reason: b.err})
			continue
		}
		rs = append(rs, v.VerifyDetached(ctx, in.part, b.sig, b.hash, from)...)
	}
	if in.state == text || in.state == signature || in.state == armorHeaders {
		rs = append(rs, mime.Result{Method: mime.MethodOpenPGP, Result: mime.StatusPermerror, Part: in.part,
			Reason: "clear-signed block without its signature"})
	}
	if in.skipped > 0 {
		rs = append(rs, mime.Result{Method: mime.MethodOpenPGP, Result: mime.StatusNeutral, Part: in.part,
			Reason: "more clear-signed blocks not verified"})
	}
	if in.message {
		rs = append(rs, mime.Result{Method: mime.MethodOpenPGP, Result: mime.StatusNeutral, Part: in.part,
			Encrypted: true, Reason: "OpenPGP message block (encrypted) not verified"})
	}
	return rs
}
