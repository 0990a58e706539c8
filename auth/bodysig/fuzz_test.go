package bodysig

import (
	"bytes"
	"testing"
)

// FuzzMessage: any message, fed whole or in chunks, gives the same results,
// never a panic or a hang.
func FuzzMessage(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\n\r\ny\r\n--b--\r\n"))
	c := testChecker(f, nil)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 1<<17 || !bytes.Contains(raw, []byte("\r\n\r\n")) {
			return
		}
		whole := check(t, c, raw, 0)
		cut := check(t, c, raw, 13)
		if len(whole) != len(cut) {
			t.Fatalf("whole %+v, in chunks %+v", whole, cut)
		}
		for i := range whole {
			if whole[i] != cut[i] {
				t.Fatalf("whole %+v, in chunks %+v", whole[i], cut[i])
			}
		}
	})
}
