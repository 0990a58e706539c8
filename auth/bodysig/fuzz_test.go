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

// FuzzBody: a text body through a Body, in chunks of any size, gives what
// a Message gives for the whole body: the marker search that holds the
// Message off loses nothing, and never panics.
func FuzzBody(f *testing.F) {
	f.Add([]byte("x\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nhi\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\nAAAA\r\n-----END PGP SIGNATURE-----\r\n"), uint8(7))
	f.Add([]byte("-----BEGIN PGP MESSAGE-----\r\n\r\nAAAA\r\n-----END PGP MESSAGE-----\r\n"), uint8(1))
	f.Add([]byte("a -----BEGIN PGP MESSAGE-----\r\n--"), uint8(2))
	c := testChecker(f, nil)
	f.Fuzz(func(t *testing.T, body []byte, n uint8) {
		if len(body) > 1<<16 {
			return
		}
		raw := append([]byte("From: alice@example.test\r\nContent-Type: text/plain\r\n\r\n"), body...)
		want := check(t, c, raw, 0)
		got := checkBody(t, c, raw, int(n))
		if len(want) != len(got) {
			t.Fatalf("Message %+v, Body in chunks of %d %+v", want, n, got)
		}
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("Message %+v, Body in chunks of %d %+v", want[i], n, got[i])
			}
		}
	})
}
