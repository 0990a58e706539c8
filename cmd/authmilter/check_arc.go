package main

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/authmilter/authmilter/auth/arc"
)

// checkARC is "authmilter check arc": it verifies the ARC chain (RFC 8617
// §5.2) of the message in FILE or on stdin (LF or CRLF line ends) with the
// daemon's verifier and prints the verdict and each sealer. Exit status 0
// when verified (whatever the result), 1 when the message could not be
// read, 2 on usage errors (an empty message included).
func checkARC(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newCheckFlags("authmilter check arc",
		"authmilter check arc [-dns HOST:PORT] [-dns-timeout DUR] [-json] [FILE]  (no FILE or -: stdin)", stderr)
	r, msg, done, code := f.openMessage(args, stdin)
	if msg == nil {
		return code
	}
	defer done()
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&crlfWriter{w: &buf}); err != nil {
		fmt.Fprintf(stderr, "authmilter check arc: reading message: %v\n", err)
		return 1
	}
	res, _ := arc.Verify(context.Background(), arc.Options{Resolver: r}, &buf)
	j := arcJSONOf(res)
	if f.json {
		return f.writeJSON(stdout, j)
	}
	fmt.Fprintf(stdout, "arc=%s instances=%d", j.Result, j.Instances)
	if j.Result == string(arc.Pass) {
		fmt.Fprintf(stdout, " header.oldest-pass=%d", j.OldestPass)
	}
	fmt.Fprintf(stdout, "%s\n", prefixed(" ", parens(j.Reason)))
	for _, s := range j.Sealers {
		fmt.Fprintf(stdout, "  i=%d d=%s s=%s %s\n", s.Instance, s.Domain, s.Selector, s.Result)
	}
	return 0
}

func parens(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

// arcJSON is the ARC verdict of `check arc -json` and of `check message
// -json`'s "arc": a public interface, keep field names.
type arcJSON struct {
	Result     string          `json:"result"`
	Instances  int             `json:"instances"`
	OldestPass int             `json:"oldest_pass"`
	Reason     string          `json:"reason"`
	Sealers    []arcSealerJSON `json:"sealers"`
}

// arcSealerJSON is one ARC-Seal, newest first.
type arcSealerJSON struct {
	Instance int    `json:"instance"`
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
	Result   string `json:"result"`
}

func arcJSONOf(r arc.Result) arcJSON {
	j := arcJSON{Result: string(r.Result), Instances: r.Instances, OldestPass: r.OldestPass, Reason: r.Reason,
		Sealers: make([]arcSealerJSON, 0, len(r.Sealers))}
	if j.Result == "" {
		j.Result = string(arc.None)
	}
	for _, s := range r.Sealers {
		j.Sealers = append(j.Sealers, arcSealerJSON{Instance: s.Instance, Domain: s.Domain, Selector: s.Selector, Result: string(s.Result)})
	}
	return j
}
