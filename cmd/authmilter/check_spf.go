package main

import (
	"fmt"
	"io"
)

// checkSPF is replaced by the auth/spf work.
func checkSPF(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "authmilter check spf: not implemented yet")
	return 2
}
