package main

import (
	"fmt"
	"io"
)

// checkDKIM is replaced by the auth/dkim work.
func checkDKIM(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "authmilter check dkim: not implemented yet")
	return 2
}
