package bodysig

import (
	"bytes"
	"context"
	"strings"

	"github.com/authmilter/authmilter/auth/mime"
)

// Body checks one message body for a caller that sees every message: it
// starts a Message only when the body may carry a signature, so that the
// common unsigned message costs a look at its Content-Type and, for a plain
// text body, a search for an armor marker — no allocation. Its zero value
// checks nothing; Checker.Start arms it. It lives inside the caller's
// per-message state.
//
// A top-level type is taken as follows:
//   - multipart/signed, multipart/encrypted, multipart/mixed (which may
//     hold a signed part, e.g. with a list footer added outside it),
//     application/pkcs7-mime and application/x-pkcs7-mime: the body is
//     walked from its start;
//   - text/plain (or no Content-Type, RFC 2045 §5.2) in 7bit, 8bit or
//     binary, with OpenPGP on: the body is searched for
//     "-----BEGIN PGP " at a line start, and walked from that line on;
//   - anything else (text/html, multipart/alternative, a base64 or
//     quoted-printable text, ...): nothing.
type Body struct {
	c        *Checker
	ctx      context.Context
	ct, cte  string
	from     []string // raw From values, parsed only when a signature is verified
	inline   bool     // waiting for an armor marker
	m        *Message
	partial  int  // bytes of the marker at the end of the last chunk, at a line start
	midLine  bool // the last chunk ended inside a line
	hasBytes bool // a chunk was seen
}

// armor starts every OpenPGP armored block (RFC 9580 §6.2).
var armor = []byte("-----BEGIN PGP ")

// Start arms b for a message whose header has the given Content-Type and
// Content-Transfer-Encoding values ("" when absent; raw values, folds
// allowed) and From field values (raw; parsed only when a signature is
// verified, and kept until Close). ctx bounds key lookups.
func (c *Checker) Start(b *Body, ctx context.Context, contentType, encoding string, from []string) {
	*b = Body{}
	switch topType(contentType) {
	case "multipart/signed", "multipart/encrypted", "multipart/mixed":
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		if c.o.SMIME == nil {
			return
		}
	case "text/plain", "":
		if c.o.OpenPGP == nil || !identityValue(encoding) {
			return
		}
		*b = Body{c: c, ctx: ctx, ct: contentType, cte: encoding, from: from, inline: true}
		return
	default:
		return
	}
	*b = Body{c: c, m: c.newBodyMessage(ctx, contentType, encoding, from)}
}

// newBodyMessage starts a Message for a Body, with the raw From values: an
// unsigned multipart/mixed message, the usual one with an attachment,
// then never parses them.
func (c *Checker) newBodyMessage(ctx context.Context, contentType, encoding string, from []string) *Message {
	m := c.NewMessage(ctx, contentType, encoding, nil)
	m.rawFrom = from
	return m
}

// Active reports whether b is checking (or may still check) the body.
func (b *Body) Active() bool { return b.m != nil || b.inline }

// Write takes the next body chunk (CRLF line ends, as a milter receives it).
func (b *Body) Write(p []byte) {
	switch {
	case b.m != nil:
		b.m.Write(p) //nolint:errcheck // a Message never fails a write
	case b.inline:
		b.scan(p)
	}
}

// scan looks for the armor marker at a line start; from that line on, the
// body goes to a Message.
func (b *Body) scan(p []byte) {
	if len(p) == 0 {
		return
	}
	start := !b.hasBytes || !b.midLine // p begins a line
	b.hasBytes = true
	if b.partial > 0 {
		rest := armor[b.partial:]
		k := min(len(rest), len(p))
		if bytes.Equal(p[:k], rest[:k]) {
			if k == len(rest) {
				b.open(armor[:b.partial], p)
				return
			}
			b.partial += k
			return // all of p is more of the marker
		}
		b.partial, start = 0, false
	}
	for off := 0; ; {
		i := bytes.Index(p[off:], armor)
		if i < 0 {
			break
		}
		i += off
		if (i == 0 && start) || (i > 0 && p[i-1] == '\n') {
			b.open(nil, p[i:])
			return
		}
		off = i + 1
	}
	// Keep how much of the marker the last, unfinished line holds.
	tail, lineStart := p, start
	if j := bytes.LastIndexByte(p, '\n'); j >= 0 {
		tail, lineStart = p[j+1:], true
	}
	b.midLine = len(tail) > 0
	if lineStart && len(tail) > 0 && len(tail) < len(armor) && bytes.HasPrefix(armor, tail) {
		b.partial = len(tail)
	}
}

// open starts the Message at the marker's line: head (the part of the
// marker from the previous chunk), then p.
func (b *Body) open(head, p []byte) {
	b.m = b.c.newBodyMessage(b.ctx, b.ct, b.cte, b.from)
	b.inline, b.from = false, nil
	if len(head) > 0 {
		b.m.Write(head) //nolint:errcheck
	}
	b.m.Write(p) //nolint:errcheck
}

// Close ends the body and returns its results (nil when nothing was
// checked or found). b checks nothing afterwards.
func (b *Body) Close() []mime.Result {
	if b.m == nil {
		*b = Body{}
		return nil
	}
	return b.CloseContext(b.m.ctx)
}

// CloseContext is Close with ctx bounding the key lookups.
func (b *Body) CloseContext(ctx context.Context) []mime.Result {
	m := b.m
	*b = Body{}
	if m == nil {
		return nil
	}
	return m.CloseContext(ctx)
}

// topType returns the lower-case media type of a raw Content-Type value
// ("" for an empty one) without allocating for the types Start knows; a
// value it cannot read as type/subtype is returned as is (and matches
// none of them).
func topType(v string) string {
	v = strings.TrimLeft(v, " \t\r\n")
	end := strings.IndexAny(v, "; \t\r\n(")
	if end < 0 {
		end = len(v)
	}
	t := v[:end]
	for _, k := range [...]string{"text/plain", "multipart/mixed", "multipart/signed", "multipart/encrypted",
		"application/pkcs7-mime", "application/x-pkcs7-mime"} {
		if strings.EqualFold(t, k) {
			return k
		}
	}
	return t
}

// identityValue reports whether a raw Content-Transfer-Encoding value
// leaves text as it is: absent, 7bit, 8bit or binary (RFC 2045 §6.1).
func identityValue(v string) bool {
	v = strings.Trim(v, " \t\r\n")
	return v == "" || strings.EqualFold(v, "7bit") || strings.EqualFold(v, "8bit") || strings.EqualFold(v, "binary")
}
