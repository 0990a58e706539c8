package send

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
)

// MaxDSNBytes bounds the delivery status notification ParseDSN reads.
const MaxDSNBytes = 1 << 20

// ErrNotDSN: the message is not a delivery status notification
// (multipart/report; report-type=delivery-status, RFC 6522, RFC 3464).
var ErrNotDSN = errors.New("send: not a delivery status notification")

// DSN is what a delivery status notification says about one message we
// sent.
type DSN struct {
	// MessageID is the Message-ID of the returned message or headers,
	// without angle brackets; "" when the DSN returned neither.
	MessageID string
	// Failed are the recipients whose Action is "failed" (RFC 3464
	// §2.3.3), lower case, with their Status and Diagnostic-Code.
	Failed []Bounce
}

// Bounce is one failed recipient of a DSN.
type Bounce struct {
	Recipient, Status, Diagnostic string
}

// ParseDSN reads a DSN (RFC 3464 inside RFC 6522's multipart/report) of at
// most MaxDSNBytes.
func ParseDSN(r io.Reader) (DSN, error) {
	var d DSN
	msg, err := mail.ReadMessage(io.LimitReader(r, MaxDSNBytes))
	if err != nil {
		return d, fmt.Errorf("%w: %w", ErrNotDSN, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || !strings.EqualFold(params["report-type"], "delivery-status") || params["boundary"] == "" {
		return d, ErrNotDSN
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	seen := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return d, fmt.Errorf("%w: %w", ErrNotDSN, err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch pt {
		case "message/delivery-status", "message/global-delivery-status":
			seen = true
			if err := d.status(p); err != nil {
				return d, err
			}
		case "text/rfc822-headers", "message/rfc822", "message/global", "message/global-headers":
			if h, err := textproto.NewReader(bufio.NewReader(p)).ReadMIMEHeader(); err == nil || len(h) > 0 {
				d.MessageID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
			}
		}
	}
	if !seen {
		return d, fmt.Errorf("%w: no message/delivery-status part", ErrNotDSN)
	}
	return d, nil
}

// status reads the per-message block and the per-recipient blocks of a
// message/delivery-status part (RFC 3464 §2.1).
func (d *DSN) status(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotDSN, err)
	}
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	for first := true; ; first = false {
		h, err := tr.ReadMIMEHeader()
		if len(h) > 0 && !first {
			if strings.EqualFold(strings.TrimSpace(h.Get("Action")), "failed") {
				if a := recipient(h.Get("Final-Recipient")); a != "" {
					d.Failed = append(d.Failed, Bounce{Recipient: a, Status: strings.TrimSpace(h.Get("Status")),
						Diagnostic: strings.TrimSpace(h.Get("Diagnostic-Code"))})
				}
			}
		}
		if err != nil {
			return nil // io.EOF, or a malformed block: what was read stands
		}
	}
}

// recipient is the address of a Final-Recipient field, "rfc822; addr"
// (RFC 3464 §2.3.2), or "".
func recipient(v string) string {
	typ, addr, ok := strings.Cut(v, ";")
	if !ok || !strings.EqualFold(strings.TrimSpace(typ), "rfc822") {
		return ""
	}
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr {
		return ""
	}
	return strings.ToLower(addr)
}
