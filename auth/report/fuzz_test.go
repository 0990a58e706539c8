package report

import (
	"os"
	"testing"
)

// FuzzLint feeds arbitrary bytes to the report parser behind Lint: it must
// return problems, never panic.
func FuzzLint(f *testing.F) {
	if b, err := os.ReadFile("testdata/dmarc-rfc9990/sample-report.xml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0"/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = Lint(b)
	})
}
