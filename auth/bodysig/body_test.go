package bodysig

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/authmilter/authmilter/auth/mime"
)

// checkBody runs a message file through a Body in chunks of n bytes (0:
// one chunk).
func checkBody(t testing.TB, c *Checker, raw []byte, n int) []mime.Result {
	t.Helper()
	ct, cte, from, body := splitMessage(t, raw, "\n")
	var b Body
	c.Start(&b, context.Background(), ct, cte, from)
	for len(body) > 0 {
		k := len(body)
		if n > 0 {
			k = min(n, k)
		}
		b.Write(body[:k])
		body = body[k:]
	}
	return b.Close()
}

// TestBodyMatchesMessage: every test message gives through a Body what it
// gives through a Message, whatever the chunking (a marker split over
// chunks included).
func TestBodyMatchesMessage(t *testing.T) {
	c := testChecker(t, nil)
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) != len(golden) {
		t.Fatalf("%d messages in testdata, %d in golden", len(files), len(golden))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := check(t, c, raw, 0)
		for _, n := range []int{0, 1, 2, 5, 7, 16, 100} {
			got := checkBody(t, c, raw, n)
			if len(got) != len(want) {
				t.Errorf("%s (chunks of %d): %+v, want %+v", f, n, got, want)
				continue
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s (chunks of %d): %+v, want %+v", f, n, got[i], want[i])
				}
			}
		}
	}
}

// TestBodyInlineMarker: the marker counts only at a line start, also when
// split over chunks; text before it does not matter.
func TestBodyInlineMarker(t *testing.T) {
	raw, err := os.ReadFile("testdata/inline.eml")
	if err != nil {
		t.Fatal(err)
	}
	c := testChecker(t, nil)
	head, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	withText := append([]byte("Some text first,\r\n- and a line -----BEGIN PGP not at a line start\r\n-----BEGIN PGX\r\n\r\n"), body...)
	for _, n := range []int{0, 1, 3, 17, 18, 19, 20, 64} {
		got := checkBody(t, c, append(append(head, "\r\n\r\n"...), withText...), n)
		if len(got) != 1 || got[0].Result != mime.StatusPass {
			t.Errorf("chunks of %d: %+v", n, got)
		}
	}
	// Not at a line start anywhere: nothing.
	noStart := bytes.ReplaceAll(body, []byte("-----BEGIN PGP "), []byte("x-----BEGIN PGP "))
	var b Body
	c.Start(&b, context.Background(), "text/plain", "", []string{"alice@example.test"})
	for i := range noStart {
		b.Write(noStart[i : i+1])
	}
	if b.m != nil {
		t.Error("a Message started for a marker inside a line")
	}
	if got := b.Close(); got != nil {
		t.Errorf("got %+v", got)
	}
}

// TestUnsignedBodyAllocatesNothing: a plain text body, an HTML body, a
// base64 text and a multipart/alternative start no Message and allocate
// nothing, from Start to Close.
func TestUnsignedBodyAllocatesNothing(t *testing.T) {
	c := testChecker(t, nil)
	text := unsigned100K()
	from := []string{" Alice <alice@example.test>"}
	for _, tt := range []struct{ ct, cte string }{
		{"", ""}, {" text/plain; charset=utf-8", " 7bit"}, {"TEXT/PLAIN", "8BIT"},
		{" text/html; charset=utf-8", ""}, {" text/plain", " base64"}, {"multipart/alternative;\n boundary=b", ""},
	} {
		var b Body
		allocs := testing.AllocsPerRun(20, func() {
			c.Start(&b, context.Background(), tt.ct, tt.cte, from)
			for p := text; len(p) > 0; p = p[min(len(p), 65535):] {
				b.Write(p[:min(len(p), 65535)])
			}
			if b.m != nil {
				t.Fatalf("%q: a Message started", tt.ct)
			}
			b.Close()
		})
		if allocs != 0 {
			t.Errorf("%q %q: %v allocations", tt.ct, tt.cte, allocs)
		}
	}
}

// TestUnsignedMixedParsesNoFrom: an unsigned multipart/mixed message (the
// usual one with an attachment) is walked but its From values are not
// parsed: it allocates as much with a From field as without.
func TestUnsignedMixedParsesNoFrom(t *testing.T) {
	c := testChecker(t, nil)
	body := append([]byte("--b\r\nContent-Type: text/html\r\n\r\nHello\r\n--b\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"), unsigned100K()...)
	body = append(body, "--b--\r\n"...)
	var allocs [2]float64
	for i, from := range [][]string{nil, {" Alice <alice@example.test>, bob@example.test"}} {
		var b Body
		allocs[i] = testing.AllocsPerRun(20, func() {
			c.Start(&b, context.Background(), "multipart/mixed; boundary=b", "", from)
			b.Write(body)
			if rs := b.Close(); rs != nil {
				t.Fatalf("results %+v", rs)
			}
		})
	}
	if allocs[1] != allocs[0] {
		t.Errorf("%v allocations with a From field, %v without", allocs[1], allocs[0])
	}
}

func TestTopType(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "",
		" Multipart/Signed; protocol=x":    "multipart/signed",
		"\n\ttext/plain(comment)":          "text/plain",
		" application/x-pkcs7-mime ; a=b":  "application/x-pkcs7-mime",
		" text/html":                       "text/html",
		"multipart/mixed;boundary=\"a b\"": "multipart/mixed",
	} {
		if got := topType(in); got != want {
			t.Errorf("topType(%q) = %q, want %q", in, got, want)
		}
	}
}
