package openpgp

import (
	"context"
	"testing"

	"github.com/authmilter/authmilter/auth/mime"
)

func checkResults(t *testing.T, rs []mime.Result) {
	for _, r := range rs {
		switch r.Result {
		case mime.StatusPass, mime.StatusFail, mime.StatusPolicy, mime.StatusNeutral,
			mime.StatusTemperror, mime.StatusPermerror:
		default:
			t.Fatalf("bad result %+v", r)
		}
		if r.Method != mime.MethodOpenPGP {
			t.Fatalf("bad method %+v", r)
		}
	}
}

// FuzzVerifyDetached: any signature part gives results, never a panic or
// a hang.
func FuzzVerifyDetached(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP SIGNATURE-----\r\n\r\niQ==\r\n-----END PGP SIGNATURE-----\r\n"))
	v := testVerifier(f)
	f.Fuzz(func(t *testing.T, sig []byte) {
		h := NewHasher("pgp-sha256")
		h.Write([]byte("Content-Type: text/plain\r\n\r\nHello\r\n"))
		checkResults(t, v.VerifyDetached(context.Background(), "1", sig, h, []string{"alice@example.test"}))
	})
}

// FuzzInline: any text part, cut anywhere, gives the same results as in one
// piece.
func FuzzInline(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nx\r\n-----BEGIN PGP SIGNATURE-----\r\n"), uint16(3))
	v := testVerifier(f)
	f.Fuzz(func(t *testing.T, body []byte, chunk uint16) {
		run := func(n int) []mime.Result {
			in := NewInline("1", 2048, 2)
			for p := body; len(p) > 0; {
				k := min(n, len(p))
				in.Write(p[:k])
				p = p[k:]
			}
			return v.VerifyInline(context.Background(), in, []string{"alice@example.test"})
		}
		whole, cut := run(len(body)+1), run(int(chunk%512)+1)
		checkResults(t, whole)
		if len(whole) != len(cut) {
			t.Fatalf("whole %+v, in chunks of %d %+v", whole, chunk%512+1, cut)
		}
		for i := range whole {
			if whole[i] != cut[i] {
				t.Fatalf("whole %+v, in chunks of %d %+v", whole[i], chunk%512+1, cut[i])
			}
		}
	})
}

// FuzzParseWKDKey: any WKD answer gives keys naming the address or an
// error, never a panic.
func FuzzParseWKDKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDME\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte{0x98, 0x33, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		el, err := parseWKDKey(b, "alice@example.test")
		if err == nil && len(el) == 0 {
			t.Fatal("no keys and no error")
		}
		if len(el) > maxWKDEntities {
			t.Fatalf("%d keys", len(el))
		}
	})
}
