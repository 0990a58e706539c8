package bodysig

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/mime"
)

// TestHostileStructures: nesting, part counts and repeated signatures stay
// bounded and end in results, not panics.
func TestHostileStructures(t *testing.T) {
	c := testChecker(t, nil)
	signedPart, _ := os.ReadFile("testdata/pgpmime.eml")
	_, entity, _ := strings.Cut(string(signedPart), "MIME-Version: 1.0\r\n")

	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=d0\r\n\r\n")
	for i := range 200 {
		fmt.Fprintf(&b, "--d%d\r\nContent-Type: multipart/mixed; boundary=d%d\r\n\r\n", i, i+1)
	}
	b.WriteString("--d200\r\n" + entity)
	deep := b.String()

	b.Reset()
	b.WriteString("Content-Type: multipart/mixed; boundary=m\r\n\r\n")
	for range 2000 {
		b.WriteString("--m\r\n" + entity + "\r\n")
	}
	b.WriteString("--m--\r\n")
	many := b.String()

	tests := []struct {
		name string
		raw  string
		max  int // results at most
	}{
		{"nesting 200 deep", deep, 0},
		{"2000 signed parts", many, 9},
		{"boundary of 10000 characters", "Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=" +
			strings.Repeat("b", 10000) + "\r\n\r\n--" + strings.Repeat("b", 10000) + "\r\n\r\nx\r\n", 1},
		{"header of a megabyte", "Content-Type: multipart/mixed; boundary=h\r\n\r\n--h\r\nX: " +
			strings.Repeat("a", 1<<20) + "\r\n\r\nbody\r\n--h--\r\n", 0},
	}
	for _, tt := range tests {
		got := check(t, c, []byte(tt.raw), 4096)
		if len(got) > tt.max {
			t.Errorf("%s: %d results, want at most %d", tt.name, len(got), tt.max)
		}
		if tt.name == "2000 signed parts" && (len(got) != 9 || got[8].Result != mime.StatusNeutral ||
			got[8].Method != mime.MethodOpenPGP || !strings.Contains(got[8].Reason, "past the first 8")) {
			t.Errorf("%s: %+v", tt.name, got)
		}
		for _, r := range got {
			if r.Result == mime.StatusPass && tt.name != "2000 signed parts" {
				t.Errorf("%s: %+v", tt.name, r)
			}
		}
	}
}

// TestUnsignedCostsNothing: a message whose top-level type cannot carry a
// signature makes no allocation per body chunk.
func TestUnsignedCostsNothing(t *testing.T) {
	c := testChecker(t, nil)
	chunk := []byte(strings.Repeat("<p>some html</p>\r\n", 1000))
	m := c.NewMessage(context.Background(), "text/html; charset=utf-8", "", nil)
	if n := testing.AllocsPerRun(100, func() { m.Write(chunk) }); n != 0 {
		t.Errorf("%v allocations per chunk", n)
	}
	if rs := m.Close(); len(rs) != 0 {
		t.Errorf("results %+v", rs)
	}
	m = c.NewMessage(context.Background(), "text/plain; charset=utf-8", "", nil)
	if n := testing.AllocsPerRun(100, func() { m.Write(chunk) }); n != 0 {
		t.Errorf("text/plain: %v allocations per chunk", n)
	}
}
