package main

import (
	"os"
	"testing"
)

// mkdirTemp makes the shared corpus directory; TestMain removes it.
func mkdirTemp() (string, error) { return os.MkdirTemp("", "authmilter-bench-corpus-") }

func TestMain(m *testing.M) {
	code := m.Run()
	if corpusDir != "" {
		os.RemoveAll(corpusDir)
	}
	os.Exit(code)
}
