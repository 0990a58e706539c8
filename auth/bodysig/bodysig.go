// Package bodysig finds and verifies the S/MIME and OpenPGP signatures of a
// message while its body streams: the mime walker finds the signed
// entities, auth/smime and auth/openpgp verify them, and each signature (or
// encrypted part) becomes one mime.Result.
//
// A Checker holds what every message shares (verifiers, limits); a Message
// takes one body in chunks and returns its results at Close. The signed
// content is hashed as it arrives; only signature parts (up to
// MaxSignatureBytes) and opaque application/pkcs7-mime parts (up to
// MaxOpaqueBytes) are kept. Verification and key lookups run at Close.
package bodysig

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"strings"

	"github.com/authmilter/authmilter/auth/mime"
	"github.com/authmilter/authmilter/auth/openpgp"
	"github.com/authmilter/authmilter/auth/smime"
)

// Options configure a Checker. Zero values take the defaults.
type Options struct {
	// SMIME and OpenPGP verify their kind of signature; nil leaves that
	// kind unreported.
	SMIME   *smime.Verifier
	OpenPGP *openpgp.Verifier
	// Limits bound the MIME walk.
	Limits mime.Limits
	// MaxSignatureBytes bounds a detached S/MIME signature part (default
	// 64 KiB); MaxOpenPGPSignatureBytes a PGP/MIME signature part or a
	// clear-signed signature block (default 64 KiB); MaxOpaqueBytes an
	// opaque application/pkcs7-mime part (default 1 MiB).
	MaxSignatureBytes        int
	MaxOpenPGPSignatureBytes int
	MaxOpaqueBytes           int
	// MaxInlineBlocks bounds the clear-signed blocks verified in one text
	// part (default 4).
	MaxInlineBlocks int
	// MaxParts bounds the signed parts (multipart/signed,
	// application/pkcs7-mime) verified in one message, and on its own the
	// text parts scanned for inline signatures (default 8). With the size
	// limits it bounds a message's memory (8 opaque parts of 1 MiB) and
	// verification work.
	MaxParts int
}

// Checker checks messages. It is safe for concurrent use.
type Checker struct{ o Options }

// New returns a Checker.
func New(o Options) *Checker {
	if o.MaxSignatureBytes <= 0 {
		o.MaxSignatureBytes = 64 << 10
	}
	if o.MaxOpenPGPSignatureBytes <= 0 {
		o.MaxOpenPGPSignatureBytes = 64 << 10
	}
	if o.MaxOpaqueBytes <= 0 {
		o.MaxOpaqueBytes = 1 << 20
	}
	if o.MaxInlineBlocks <= 0 {
		o.MaxInlineBlocks = 4
	}
	if o.MaxParts <= 0 {
		o.MaxParts = 8
	}
	return &Checker{o: o}
}

// Message checks one message.
type Message struct {
	c       *Checker
	ctx     context.Context
	from    []string
	rawFrom []string // From values that Body gave, parsed into from only when a signature is verified
	w       *mime.Walker
	results []mime.Result
	jobs    []func() []mime.Result
	// signedParts and textParts count the parts taken on, each up to
	// MaxParts.
	signedParts, textParts int
	over                   mime.Method // the method of the first signed part left out for MaxParts
}

// NewMessage starts checking a message whose header has the given
// Content-Type and Content-Transfer-Encoding values ("" when absent) and
// author addresses (FromAddresses). ctx bounds key lookups.
func (c *Checker) NewMessage(ctx context.Context, contentType, encoding string, from []string) *Message {
	m := &Message{c: c, ctx: ctx, from: from}
	m.w = mime.NewWalker(contentType, encoding, c.o.Limits, handler{m})
	return m
}

// Write takes the next body chunk (CRLF line ends, as a milter receives it).
func (m *Message) Write(p []byte) (int, error) { return m.w.Write(p) }

// Close ends the body, verifies what was found and returns one result per
// signature or encrypted part, in the order the parts ended; none for a
// message without any.
func (m *Message) Close() []mime.Result { return m.CloseContext(m.ctx) }

// CloseContext is Close with ctx bounding the key lookups (WKD,
// certificate revocation) instead of the context the message started with.
func (m *Message) CloseContext(ctx context.Context) []mime.Result {
	m.ctx = ctx
	m.w.Close()
	if len(m.jobs) > 0 && m.rawFrom != nil {
		m.from, m.rawFrom = FromAddresses(m.rawFrom), nil
	}
	for _, j := range m.jobs {
		m.results = append(m.results, j()...)
	}
	m.jobs = nil
	if m.over != "" {
		m.results = append(m.results, mime.Result{Method: m.over, Result: mime.StatusNeutral, Part: "TEXT",
			Reason: fmt.Sprintf("signed parts past the first %d not verified", m.c.o.MaxParts)})
		m.over = ""
	}
	return m.results
}

// FromAddresses returns the addresses of the From field values, lower-case;
// unparsable values are skipped.
func FromAddresses(values []string) []string {
	var out []string
	for _, v := range values {
		list, err := mail.ParseAddressList(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
	}
	return out
}

// kinds of entity state.
type signed struct {
	method  mime.Method
	digest  *smime.Digester
	hash    *openpgp.Hasher
	sig     []byte
	sigEnc  string
	sigErr  error
	sigSeen bool
}

type opaque struct{}

type handler struct{ m *Message }

func (h handler) Begin(e *mime.Entity) mime.Sink {
	o := &h.m.c.o
	if p := e.Parent; p != nil && e.Index == 2 {
		if s, ok := p.Data.(*signed); ok {
			if s.method == mime.MethodOpenPGP {
				return mime.Sink{Keep: o.MaxOpenPGPSignatureBytes}
			}
			return mime.Sink{Keep: o.MaxSignatureBytes}
		}
	}
	switch e.Type {
	case "multipart/signed":
		proto := strings.ToLower(e.Params["protocol"])
		switch {
		case o.SMIME != nil && (proto == "application/pkcs7-signature" || proto == "application/x-pkcs7-signature"):
			if h.take(mime.MethodSMIME) {
				s := &signed{method: mime.MethodSMIME, digest: smime.NewDigester(e.Params["micalg"])}
				e.Data = s
				return mime.Sink{W: s.digest}
			}
		case o.OpenPGP != nil && proto == "application/pgp-signature":
			if h.take(mime.MethodOpenPGP) {
				s := &signed{method: mime.MethodOpenPGP, hash: openpgp.NewHasher(e.Params["micalg"])}
				e.Data = s
				return mime.Sink{W: s.hash}
			}
		}
	case "multipart/encrypted":
		switch proto := strings.ToLower(e.Params["protocol"]); {
		case o.OpenPGP != nil && proto == "application/pgp-encrypted":
			h.encrypted(mime.MethodOpenPGP, e.Part)
		case o.SMIME != nil && strings.Contains(proto, "pkcs7-mime"):
			h.encrypted(mime.MethodSMIME, e.Part)
		}
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		if o.SMIME == nil {
			break
		}
		switch strings.ToLower(e.Params["smime-type"]) {
		case "enveloped-data", "authenveloped-data":
			h.encrypted(mime.MethodSMIME, e.Part)
		case "signed-data", "":
			if h.take(mime.MethodSMIME) {
				e.Data = opaque{}
				return mime.Sink{Keep: o.MaxOpaqueBytes}
			}
		}
	case "text/plain":
		if o.OpenPGP != nil && identity(e.Encoding) && h.take("") {
			in := openpgp.NewInline(e.Part, o.MaxOpenPGPSignatureBytes, o.MaxInlineBlocks)
			e.Data = in
			return mime.Sink{W: in}
		}
	}
	return mime.Sink{}
}

// take counts a part about to be verified (method set) or scanned for
// inline signatures (method "") against MaxParts, each kind on its own, and
// reports whether it may be. A signed part left out is reported at Close.
func (h handler) take(method mime.Method) bool {
	m := h.m
	n := &m.signedParts
	if method == "" {
		n = &m.textParts
	}
	if *n >= m.c.o.MaxParts {
		if method != "" && m.over == "" {
			m.over = method
		}
		return false
	}
	*n++
	return true
}

// identity reports whether a transfer encoding leaves the text as it is.
func identity(enc string) bool { return enc == "7bit" || enc == "8bit" || enc == "binary" }

func (h handler) encrypted(method mime.Method, part string) {
	h.m.results = append(h.m.results, mime.Result{Method: method, Result: mime.StatusNeutral, Part: part,
		Encrypted: true, Reason: "encrypted; not verified"})
}

func (h handler) End(e *mime.Entity, body []byte, err error) {
	m := h.m
	if p := e.Parent; p != nil && e.Index == 2 {
		if s, ok := p.Data.(*signed); ok {
			s.sig, s.sigEnc, s.sigErr, s.sigSeen = body, e.Encoding, err, true
			return
		}
	}
	switch d := e.Data.(type) {
	case *signed:
		m.jobs = append(m.jobs, func() []mime.Result { return m.verifySigned(e.Part, d, err) })
	case opaque:
		m.jobs = append(m.jobs, func() []mime.Result { return m.verifyOpaque(e, body, err) })
	case *openpgp.Inline:
		if d.Found() {
			m.jobs = append(m.jobs, func() []mime.Result { return m.c.o.OpenPGP.VerifyInline(m.ctx, d, m.from) })
		}
	}
}

func (m *Message) verifySigned(part string, s *signed, err error) []mime.Result {
	bad := func(st mime.Status, reason string) []mime.Result {
		return []mime.Result{{Method: s.method, Result: st, Part: part, Reason: reason}}
	}
	switch {
	case err != nil:
		return bad(mime.StatusPermerror, "multipart/signed: "+err.Error())
	case !s.sigSeen:
		return bad(mime.StatusPermerror, "multipart/signed without a signature part")
	case s.sigErr != nil:
		return bad(mime.StatusPermerror, "signature part: "+s.sigErr.Error())
	}
	sig, derr := decode(s.sig, s.sigEnc)
	if derr != nil {
		return bad(mime.StatusPermerror, "signature part: "+derr.Error())
	}
	if s.method == mime.MethodSMIME {
		return m.c.o.SMIME.VerifyDetached(m.ctx, part, sig, s.digest, m.from)
	}
	return m.c.o.OpenPGP.VerifyDetached(m.ctx, part, sig, s.hash, m.from)
}

func (m *Message) verifyOpaque(e *mime.Entity, body []byte, err error) []mime.Result {
	bad := func(st mime.Status, reason string) []mime.Result {
		return []mime.Result{{Method: mime.MethodSMIME, Result: st, Part: e.Part, Reason: reason}}
	}
	switch {
	case err == mime.ErrTooLarge:
		return bad(mime.StatusNeutral, fmt.Sprintf("application/pkcs7-mime part larger than %d bytes not verified", m.c.o.MaxOpaqueBytes))
	case err != nil:
		return bad(mime.StatusPermerror, err.Error())
	}
	der, derr := decode(body, e.Encoding)
	if derr != nil {
		return bad(mime.StatusPermerror, derr.Error())
	}
	if smime.IsEnveloped(der) {
		return []mime.Result{{Method: mime.MethodSMIME, Result: mime.StatusNeutral, Part: e.Part,
			Encrypted: true, Reason: "encrypted; not verified"}}
	}
	return m.c.o.SMIME.VerifyOpaque(m.ctx, e.Part, der, m.from)
}

// decode undoes a part's Content-Transfer-Encoding (RFC 2045 §6).
func decode(b []byte, enc string) ([]byte, error) {
	switch enc {
	case "base64":
		out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
		n, err := base64.StdEncoding.Decode(out, bytes.TrimSpace(b))
		if err != nil {
			return nil, fmt.Errorf("bad base64: %w", err)
		}
		return out[:n], nil
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		if err != nil {
			return nil, fmt.Errorf("bad quoted-printable: %w", err)
		}
		return out, nil
	}
	return b, nil
}
