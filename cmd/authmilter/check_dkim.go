package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/authmilter/authmilter/auth/dkim"
)

// checkDKIM is "authmilter check dkim": it verifies the DKIM signatures of
// the message in FILE or on stdin (LF or CRLF line ends) with the daemon's
// verifier and prints one result per signature. Exit status 0 when verified
// (whatever the results), 1 when the message could not be read, 2 on usage
// errors (an empty message included).
func checkDKIM(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newCheckFlags("authmilter check dkim",
		"authmilter check dkim [-dns HOST:PORT] [-dns-timeout DUR] [-json] [FILE]  (no FILE or -: stdin)", stderr)
	r, msg, done, code := f.openMessage(args, stdin)
	if msg == nil {
		return code
	}
	defer done()

	v := dkim.NewVerifier(context.Background(), dkim.Options{Resolver: r})
	if _, err := msg.WriteTo(&crlfWriter{w: v}); err != nil {
		v.Abort()
		fmt.Fprintf(stderr, "authmilter check dkim: reading message: %v\n", err)
		return 1
	}
	results := v.Close()
	if f.json {
		return printDKIMJSON(f, stdout, results)
	}
	if len(results) == 0 {
		fmt.Fprintln(stdout, "dkim=none (no signatures)")
	}
	for _, res := range results {
		fmt.Fprintln(stdout, dkimLine(res))
	}
	return 0
}

// dkimLine formats one result with RFC 8601 / RFC 6008 property names.
func dkimLine(r dkim.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dkim=%s", r.Result)
	for _, p := range [][2]string{{"header.d", r.Domain}, {"header.i", r.Identifier},
		{"header.s", r.Selector}, {"header.a", r.Algorithm}, {"header.b", r.HeaderB}} {
		if p[1] != "" {
			fmt.Fprintf(&b, " %s=%s", p[0], p[1])
		}
	}
	if r.KeyBits > 0 {
		fmt.Fprintf(&b, " key_bits=%d", r.KeyBits)
	}
	if r.Testing {
		b.WriteString(" testing")
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, " (%s)", r.Reason)
	}
	return b.String()
}

type dkimSignatureJSON struct {
	Result     string `json:"result"`
	Domain     string `json:"domain"`
	Selector   string `json:"selector"`
	Algorithm  string `json:"algorithm"`
	Reason     string `json:"reason"`
	Identifier string `json:"identifier"`
	KeyBits    int    `json:"key_bits"`
	HeaderB    string `json:"header_b"`
}

func printDKIMJSON(f *checkFlags, stdout io.Writer, results []dkim.Result) int {
	out := struct {
		Signatures []dkimSignatureJSON `json:"signatures"`
	}{Signatures: make([]dkimSignatureJSON, 0, len(results))}
	for _, r := range results {
		out.Signatures = append(out.Signatures, dkimSignatureJSON{
			Result: string(r.Result), Domain: r.Domain, Selector: r.Selector, Algorithm: r.Algorithm,
			Reason: r.Reason, Identifier: r.Identifier, KeyBits: r.KeyBits, HeaderB: r.HeaderB,
		})
	}
	return f.writeJSON(stdout, out)
}

// crlfWriter turns bare LF line ends into CRLF, across write boundaries,
// so that a message saved with LF verifies as it was on the wire.
type crlfWriter struct {
	w      io.Writer
	prevCR bool
	buf    []byte
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	c.buf = c.buf[:0]
	for _, ch := range p {
		if ch == '\n' && !c.prevCR {
			c.buf = append(c.buf, '\r')
		}
		c.buf = append(c.buf, ch)
		c.prevCR = ch == '\r'
	}
	if _, err := c.w.Write(c.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
