package send

import (
	"bytes"
	"fmt"

	"github.com/authmilter/authmilter/auth/dkim"
)

// Sign returns msg with a DKIM-Signature field (RFC 6376) per key on top,
// made with auth/dkim's signer (relaxed/relaxed). msg is a whole message
// with CRLF line ends; one without a header/body separator is an error.
// The keys' d= should be the domain of the From address (or its
// Organizational Domain) so that the report passes DMARC, as RFC 9990
// §3.5.2 asks of the report stream.
func Sign(msg []byte, opts dkim.SignOptions) ([]byte, error) {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, fmt.Errorf("send: sign: no end of header")
	}
	s, err := dkim.NewSigner(opts)
	if err != nil {
		return nil, err
	}
	head, body := msg[:end+2], msg[end+4:]
	for len(head) > 0 {
		n := 0
		for {
			i := bytes.Index(head[n:], []byte("\r\n"))
			if i < 0 {
				n = len(head)
				break
			}
			n += i + 2
			if n >= len(head) || (head[n] != ' ' && head[n] != '\t') {
				break
			}
		}
		s.Header(string(head[:n]))
		head = head[n:]
	}
	s.Write(body)
	vals, err := s.Close()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, v := range vals {
		out.WriteString("DKIM-Signature: " + v + "\r\n")
	}
	out.Write(msg)
	return out.Bytes(), nil
}
