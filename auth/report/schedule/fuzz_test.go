package schedule

import (
	"strings"
	"testing"
)

// FuzzRecipients: a rua URI from DNS never yields an address that could
// break a header field or an SMTP command.
func FuzzRecipients(f *testing.F) {
	for _, s := range []string{"mailto:a@x.example", "mailto:b%40y.example?subject=x", "mailto:%0d%0aBcc:x@y", "mailto:a%00b@x", "mailto:\"a b\"@x.example", "https://h.example/", "mailto:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		for _, a := range Recipients([]string{uri}) {
			if strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(",<>", r) }) || !strings.Contains(a, "@") {
				t.Errorf("%q gave %q", uri, a)
			}
		}
	})
}
