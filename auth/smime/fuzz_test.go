package smime

import (
	"context"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/mime"
)

func validStatus(s mime.Status) bool {
	switch s {
	case mime.StatusPass, mime.StatusFail, mime.StatusPolicy, mime.StatusNeutral,
		mime.StatusTemperror, mime.StatusPermerror:
		return true
	}
	return false
}

// FuzzVerify: any CMS input gives results, never a panic or a hang, and a
// result never names an issuer without a serial or the reverse.
func FuzzVerify(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80})
	v := New(Options{Now: testClock})
	f.Fuzz(func(t *testing.T, der []byte) {
		d := NewDigester("sha-256, sha-512")
		d.Write([]byte("Content-Type: text/plain\r\n\r\nHello\r\n"))
		rs := append(v.VerifyDetached(context.Background(), "1", der, d, []string{"alice@example.test"}),
			v.VerifyOpaque(context.Background(), "1", der, []string{"alice@example.test"})...)
		IsEnveloped(der)
		for _, r := range rs {
			if !validStatus(r.Result) || r.Method != mime.MethodSMIME || r.Part != "1" {
				t.Fatalf("bad result %+v", r)
			}
			if (r.Issuer == "") != (r.Serial == "") {
				t.Fatalf("issuer without serial or the reverse: %+v", r)
			}
			if strings.Contains(r.Reason, "parser failed") {
				t.Logf("library panic caught: %s", r.Reason)
			}
		}
	})
}
