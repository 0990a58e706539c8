package openpgp

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/mime"
)

func testClock() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }

func testVerifier(t testing.TB) *Verifier {
	t.Helper()
	f, err := os.Open("../bodysig/testdata/keyring.asc")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k, err := ReadKeyring(f)
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Keys: k, Now: testClock})
}

// pgpMIME returns the signed part and the signature of a PGP/MIME test
// message.
func pgpMIME(t *testing.T, name string) (content, sig []byte) {
	t.Helper()
	raw, err := os.ReadFile("../bodysig/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	parts := bytes.Split(raw, []byte("--pgp-b"))
	content = bytes.TrimSuffix(bytes.TrimPrefix(parts[1], []byte("\r\n")), []byte("\r\n"))
	sig = parts[2][bytes.Index(parts[2], []byte("\r\n\r\n"))+4:]
	return content, sig
}

func TestVerifyDetached(t *testing.T) {
	v := testVerifier(t)
	content, sig := pgpMIME(t, "pgpmime.eml")
	tests := []struct {
		name    string
		content []byte
		sig     []byte
		from    []string
		want    mime.Status
		reason  string
	}{
		{"pass", content, sig, []string{"ALICE@example.test"}, mime.StatusPass, ""},
		{"changed", append(append([]byte(nil), content...), ' '), sig, []string{"alice@example.test"}, mime.StatusFail, "bad signature"},
		{"other author", content, sig, []string{"bob@example.test"}, mime.StatusPolicy, "user ID"},
		{"not armored", content, []byte("garbage"), nil, mime.StatusPermerror, "unparsable"},
		{"bad armor", content, []byte("-----BEGIN PGP SIGNATURE-----\r\n\r\n!!!\r\n"), nil, mime.StatusPermerror, ""},
		{"a key instead", content, keyBlock(t), nil, mime.StatusPermerror, "not PGP SIGNATURE"},
	}
	for _, tt := range tests {
		h := NewHasher("pgp-sha256")
		h.Write(tt.content)
		rs := v.VerifyDetached(context.Background(), "1", tt.sig, h, tt.from)
		if len(rs) == 0 || rs[0].Result != tt.want || !strings.Contains(rs[0].Reason, tt.reason) {
			t.Errorf("%s: got %+v, want %s (%s)", tt.name, rs, tt.want, tt.reason)
		}
	}
}

func keyBlock(t *testing.T) []byte {
	b, err := os.ReadFile("../bodysig/testdata/keyring.asc")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNoKeys(t *testing.T) {
	content, sig := pgpMIME(t, "pgpmime.eml")
	h := NewHasher("")
	h.Write(content)
	rs := New(Options{}).VerifyDetached(context.Background(), "1", sig, h, nil)
	if len(rs) != 1 || rs[0].Result != mime.StatusNeutral {
		t.Errorf("got %+v", rs)
	}
}

func TestInlineChunks(t *testing.T) {
	raw, err := os.ReadFile("../bodysig/testdata/inline.eml")
	if err != nil {
		t.Fatal(err)
	}
	body := raw[bytes.Index(raw, []byte("\r\n\r\n"))+4:]
	v := testVerifier(t)
	// Text before and after the block, and the block cut anywhere.
	body = append(append([]byte("Some text\r\n-----BEGIN PGP not a block\r\n"), body...), "after\r\n"...)
	for n := 1; n < 80; n++ {
		in := NewInline("1", 4096, 4)
		for p := body; len(p) > 0; {
			k := min(n, len(p))
			in.Write(p[:k])
			p = p[k:]
		}
		rs := v.VerifyInline(context.Background(), in, []string{"alice@example.test"})
		if len(rs) != 1 || rs[0].Result != mime.StatusPass {
			t.Fatalf("chunks of %d: got %+v", n, rs)
		}
	}
}

func TestInlineUnsigned(t *testing.T) {
	in := NewInline("1", 4096, 4)
	in.Write([]byte("Hello\r\nxx-----BEGIN PGP SIGNED MESSAGE-----\r\n"))
	if in.Found() {
		t.Error("a marker inside a line counted as a block")
	}
	in = NewInline("1", 4096, 4)
	in.Write([]byte("-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n"))
	rs := testVerifier(t).VerifyInline(context.Background(), in, nil)
	if len(rs) != 1 || !rs[0].Encrypted || rs[0].Result != mime.StatusNeutral {
		t.Errorf("message block: %+v", rs)
	}
}

func TestInlineLongLine(t *testing.T) {
	body := []byte("-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n" + strings.Repeat("x", 5000) +
		"\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\niQ==\r\n-----END PGP SIGNATURE-----\r\n")
	v := testVerifier(t)
	for _, n := range []int{1, 100, len(body)} {
		in := NewInline("1", 4096, 4)
		for p := body; len(p) > 0; {
			k := min(n, len(p))
			in.Write(p[:k])
			p = p[k:]
		}
		rs := v.VerifyInline(context.Background(), in, nil)
		if len(rs) != 1 || rs[0].Result != mime.StatusPermerror || !strings.Contains(rs[0].Reason, "longer") {
			t.Errorf("chunks of %d: %+v", n, rs)
		}
	}
}
