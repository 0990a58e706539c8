package auth

import (
	"fmt"
	"strings"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dmarc"
)

// SignMessage signs one message of a signing client (Evaluator.SignsClient)
// while it streams in: Header for each field, EndHeaders, Body for each
// chunk, then Finish. The signing keys are chosen at the end of the header
// (the From domain); the body is hashed as it arrives and never held.
// Methods are called from one goroutine.
type SignMessage struct {
	e       *Evaluator
	env     Envelope
	fields  []string // header fields as received (rawField), until EndHeaders
	bytes   int
	froms   []string
	ended   bool
	why     string // why the message is not signed, once known
	domain  string // the From domain
	signers []*dkim.Signer
	keys    [][]signKey // the keys of each signer
	// Body facts for the warnings: a line over 998 octets, an 8-bit octet.
	lineLen  int
	longLine bool
	eightBit bool
}

// maxLineOctets is RFC 5322 §2.1.1's line limit (without CRLF); Postfix's
// SMTP client splits longer lines (smtp_line_length_limit), which breaks
// every body hash.
const maxLineOctets = 998

// NewSignMessage starts signing a message of a signing client.
func (e *Evaluator) NewSignMessage(env Envelope) *SignMessage {
	return &SignMessage{e: e, env: env}
}

// Header takes one header field as the MTA sends it (name, and the value
// with its leading whitespace and LF or CRLF folds).
func (m *SignMessage) Header(name, value string) {
	if m.ended || m.why != "" {
		return
	}
	raw := rawField(name, value)
	m.bytes += len(raw)
	switch {
	case len(m.fields) >= m.e.cfg.Limits.MaxHeaders:
		m.why = fmt.Sprintf("more than %d header fields (limits.max_headers)", m.e.cfg.Limits.MaxHeaders)
	case m.bytes > m.e.cfg.Limits.MaxHeaderBytes || m.bytes > dkim.MaxHeaderBytes:
		m.why = "header block over limits.max_header_bytes"
	case strings.Count(raw, "\n") > m.e.cfg.Limits.MaxFieldLines:
		m.why = fmt.Sprintf("a header field folded over more than %d lines (limits.max_field_lines)", m.e.cfg.Limits.MaxFieldLines)
	}
	if m.why != "" {
		m.fields = nil
		return
	}
	m.fields = append(m.fields, raw)
	if strings.EqualFold(fieldName(name), "From") {
		m.froms = append(m.froms, value)
	}
}

// EndHeaders picks the keys of the From domain and starts the signatures.
func (m *SignMessage) EndHeaders() {
	if m.ended {
		return
	}
	m.ended = true
	fields := m.fields
	m.fields = nil
	if m.why != "" {
		return
	}
	authors, err := dmarc.AuthorDomains(m.froms)
	switch {
	case err != nil:
		m.why = "unusable From: " + err.Error()
		return
	case len(authors) != 1:
		m.why = fmt.Sprintf("From names %d domains", len(authors))
		return
	}
	m.domain = authors[0]
	keys := m.e.sign.keysFor(m.domain)
	if len(keys) == 0 {
		m.why = "no [[dkim.sign]] entry for " + m.domain
		return
	}
	// One signer per canonicalization: each hashes the body its way.
	for _, k := range keys {
		i := 0
		for i < len(m.keys) && (m.keys[i][0].simpleHeader != k.simpleHeader || m.keys[i][0].simpleBody != k.simpleBody) {
			i++
		}
		if i == len(m.keys) {
			m.keys = append(m.keys, nil)
		}
		m.keys[i] = append(m.keys[i], k)
	}
	for _, ks := range m.keys {
		opts := m.e.sign.opts
		opts.SimpleHeader, opts.SimpleBody = ks[0].simpleHeader, ks[0].simpleBody
		for _, k := range ks {
			opts.Keys = append(opts.Keys, k.key)
		}
		s, err := dkim.NewSigner(opts)
		if err != nil { // checked when the keys were loaded
			m.why = err.Error()
			m.signers = nil
			return
		}
		for _, f := range fields {
			s.Header(f)
		}
		m.signers = append(m.signers, s)
	}
}

// Body takes the next body chunk (CRLF line ends, dot-unstuffed).
func (m *SignMessage) Body(chunk []byte) {
	if !m.ended {
		m.EndHeaders()
	}
	if len(m.signers) == 0 {
		return
	}
	for _, s := range m.signers {
		s.Write(chunk)
	}
	if m.longLine && m.eightBit {
		return
	}
	n := m.lineLen
	for _, c := range chunk {
		switch {
		case c == '\n':
			n = 0
		case c != '\r':
			n++
			if n > maxLineOctets {
				m.longLine = true
			}
		}
		if c >= 0x80 {
			m.eightBit = true
		}
	}
	m.lineLen = n
}

// SignResult is what signing a message gave.
type SignResult struct {
	// Signatures are the DKIM-Signature field values, in [[dkim.sign]]
	// order within each canonicalization: each to be added as
	// "DKIM-Signature: " + value (one space after the colon, as hashed),
	// folded with CRLF + TAB.
	Signatures []string
	// Selectors names each signature by its key record
	// ("rsa2026._domainkey.example.com").
	Selectors []string
	Domain    string // the From domain
	// NotSigned says why nothing was signed ("" when signed).
	NotSigned string
	// Warnings name what the MTA may change after signing, breaking the
	// signatures (lines over 998 octets, an 8-bit body).
	Warnings []string
}

// Finish ends the body and returns the signatures.
func (m *SignMessage) Finish() SignResult {
	if !m.ended {
		m.EndHeaders()
	}
	r := SignResult{Domain: m.domain, NotSigned: m.why}
	if r.NotSigned != "" {
		return r
	}
	for i, s := range m.signers {
		vals, err := s.Close()
		if err != nil {
			return SignResult{Domain: m.domain, NotSigned: err.Error()}
		}
		for j, v := range vals {
			r.Signatures = append(r.Signatures, v)
			k := m.keys[i][j].key
			r.Selectors = append(r.Selectors, k.Selector+"._domainkey."+k.Domain)
		}
	}
	if m.longLine {
		r.Warnings = append(r.Warnings, "a body line is longer than 998 octets: an MTA on the way may split it (Postfix: smtp_line_length_limit), which breaks the signatures")
	}
	if m.eightBit {
		r.Warnings = append(r.Warnings, "8-bit body: an MTA on the way may convert it to quoted-printable for a server without 8BITMIME, which breaks the signatures; in Postfix set disable_mime_output_conversion = yes")
	}
	return r
}
