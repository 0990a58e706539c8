package auth

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
)

// EvaluateReader evaluates a whole message read from r (LF or CRLF line
// ends) through exactly the calls the milter makes: NewMessage, Header for
// each field, EndHeaders, Body in chunks, Finish. It serves the offline
// `authmilter check message` command.
func (e *Evaluator) EvaluateReader(ctx context.Context, env Envelope, r io.Reader) (*Report, error) {
	m := e.NewMessage(ctx, env)
	if err := feed(m, r); err != nil {
		m.Abort()
		return nil, err
	}
	return m.Finish(ctx), nil
}

// feed splits a message into header fields and body the way an MTA hands
// them to a milter: field values keep their leading whitespace, folds are
// kept as LF, and the body has CRLF line ends.
func feed(m *Message, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var name, value []byte
	haveField := false
	flush := func() {
		if haveField {
			m.Header(string(name), string(value))
		}
		haveField = false
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An overlong header line: keep reading it as one line.
			full := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				full = append(full, line...)
			}
			line = full
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("auth: reading message: %w", err)
		}
		// The line without its line end: LF, or CRLF. A CR before that is
		// an octet of the field (a bare CR), as an MTA hands it over.
		trimmed := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 && err == io.EOF {
			flush()
			m.EndHeaders()
			return nil
		}
		switch {
		case len(bytes.TrimRight(trimmed, "\r")) == 0 && (len(line) > 0 && (line[0] == '\n' || line[0] == '\r')):
			flush()
			m.EndHeaders()
			return feedBody(m, br)
		case (trimmed[0] == ' ' || trimmed[0] == '\t') && haveField:
			value = append(value, '\n')
			value = append(value, trimmed...)
		default:
			flush()
			i := bytes.IndexByte(trimmed, ':')
			if i <= 0 {
				// Not a header field: treat the rest as body, as MTAs do.
				m.EndHeaders()
				m.Body(append(append([]byte(nil), trimmed...), '\r', '\n'))
				return feedBody(m, br)
			}
			name = append(name[:0], bytes.TrimRight(trimmed[:i], " \t")...)
			value = append(value[:0], trimmed[i+1:]...)
			haveField = true
		}
		if err == io.EOF {
			flush()
			m.EndHeaders()
			return nil
		}
	}
}

// feedBody streams the body in chunks of at most 64 KiB with CRLF line ends.
func feedBody(m *Message, br *bufio.Reader) error {
	var chunk []byte
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if bytes.HasSuffix(line, []byte("\n")) {
				line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
				chunk = append(chunk, line...)
				chunk = append(chunk, '\r', '\n')
			} else {
				chunk = append(chunk, line...)
			}
		}
		if len(chunk) >= 64<<10 || (err != nil && len(chunk) > 0) {
			m.Body(chunk)
			chunk = chunk[:0]
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("auth: reading message: %w", err)
		}
	}
}
