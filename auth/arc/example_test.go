package arc_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/authmilter/authmilter/auth/arc"
)

type noKeys struct{}

func (noKeys) LookupTXT(context.Context, string) ([]string, error) { return nil, nil }

// A message without ARC sets has the result none; a streaming verifier
// takes the header fields, then the body in chunks.
func ExampleVerifier() {
	fields, body := arc.SplitHeader([]byte("From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"))
	v := arc.NewVerifier(arc.Options{Resolver: noKeys{}}, fields)
	v.Write(body)
	res := v.Result(context.Background())
	fmt.Println(res.Result, res.Instances)

	res, _ = arc.Verify(context.Background(), arc.Options{Resolver: noKeys{}},
		strings.NewReader("ARC-Seal: i=2; a=rsa-sha256; cv=pass; d=example.org; s=s; b=AA==\r\n\r\n"))
	fmt.Println(res.Result, res.Reason)
	// Output:
	// none 0
	// fail arc: invalid chain structure: set i=1 incomplete
}
