package dkim

import (
	"bytes"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
)

// canonicalize runs body through wc in writes of the given sizes (cycled;
// a size of 0 is an empty write).
func canonicalize(t testing.TB, wc io.WriteCloser, body []byte, sizes []int) {
	t.Helper()
	for i := 0; len(body) > 0 || i == 0; i++ {
		n := 1
		if len(sizes) > 0 {
			n = sizes[i%len(sizes)]
		}
		if n > len(body) {
			n = len(body)
		}
		if _, err := wc.Write(body[:n]); err != nil {
			t.Fatal(err)
		}
		body = body[n:]
	}
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
}

// compareWithV070 checks that both body canonicalizations give what
// go-msgauth v0.7.0's give for body written in pieces of the given sizes.
func compareWithV070(t testing.TB, body []byte, sizes []int) {
	t.Helper()
	var got, want bytes.Buffer
	canonicalize(t, new(simpleCanonicalizer).CanonicalizeBody(&got), body, sizes)
	canonicalize(t, &v070simpleBodyCanonicalizer{w: &want}, body, sizes)
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("simple %q in %v: got %q, v0.7.0 %q", body, sizes, got.Bytes(), want.Bytes())
	}
	got.Reset()
	want.Reset()
	canonicalize(t, new(relaxedCanonicalizer).CanonicalizeBody(&got), body, sizes)
	canonicalize(t, &v070relaxedBodyCanonicalizer{w: &want}, body, sizes)
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("relaxed %q in %v: got %q, v0.7.0 %q", body, sizes, got.Bytes(), want.Bytes())
	}
}

func TestBodyCanonicalizersMatchV070(t *testing.T) {
	bodies := []string{
		"", "\r\n", "\n", "\r", "\r\r", "\n\r", "\r \n", " \r\n", "a", "a\r", "a\r\r\n",
		"Hey\r\n\r\nHow r u?", "What about\nLF endings?\n\n", "\r\n\r\r\n",
		"a \t b\t\r\n \r\n\t\r\nc  \r\n\r\n\r\n", "x\r\ry\r\n\r\n\rz \r",
		"a\r\n" + strings.Repeat("\r\n", 5000) + "b\r\n" + strings.Repeat("\r\n", 3000),
		"a" + strings.Repeat("\r\n\r", 700) + "b",
		strings.Repeat("line with  spaces \t\r\n", 200) + "\r\n \r\n",
		// Runs past directRun: single spaces and CRLFs inside one run.
		strings.Repeat("Pack my box with five dozen liquor jugs.\r\n", 300) + "end  \r\n\r\n",
		"x" + strings.Repeat("0123456789abcdef", 600) + "\r\n",
		"a \t\r\n\r\n" + strings.Repeat("0123456789abcdef", 600) + " \r\n",
	}
	sizes := [][]int{nil, {1}, {2}, {3}, {7}, {64}, {1 << 20}, {0, 1, 0, 5}}
	for _, b := range bodies {
		for _, s := range sizes {
			compareWithV070(t, []byte(b), s)
		}
	}
}

func FuzzBodyCanonicalizers(f *testing.F) {
	f.Add([]byte("a \r\n\r\n"), []byte{1})
	f.Add([]byte("a\rb\n\r\r\n \t\r\n"), []byte{3, 0, 1})
	f.Add([]byte("\r\n\r\r\n\n\r \n"), []byte{})
	f.Add([]byte("Pack my box with five dozen\r\nliquor jugs.  \r\n\r\nx y\tz\x01 \x00"), []byte{17, 5})
	f.Fuzz(func(t *testing.T, body, sizes []byte) {
		var s []int
		progress := false
		for _, b := range sizes {
			s = append(s, int(b))
			progress = progress || b > 0
		}
		if !progress {
			s = nil // writes of one octet
		}
		compareWithV070(t, body, s)
	})
}

// TestRelaxedHeldBreaksBounded: line breaks mixed with lone CRs are held
// as bytes up to maxHeldBreaks, then Write fails instead of growing.
func TestRelaxedHeldBreaksBounded(t *testing.T) {
	wc := new(relaxedCanonicalizer).CanonicalizeBody(io.Discard)
	chunk := []byte(strings.Repeat("\r\r\n", 4096))
	var err error
	for i := 0; i < 2*maxHeldBreaks/len(chunk) && err == nil; i++ {
		_, err = wc.Write(chunk)
	}
	if err != errHeldBreaks {
		t.Fatalf("err = %v, want %v", err, errHeldBreaks)
	}
}

// TestBodyCanonicalizersAllocs: no allocation per write once the scratch
// buffer is warm, and a run of empty lines is held as a count.
func TestBodyCanonicalizersAllocs(t *testing.T) {
	text := []byte(strings.Repeat("The quick brown fox  jumps over the lazy dog.\r\n", 1300)) // ~60 KiB
	blank := []byte(strings.Repeat("\r\n", 30000))
	for _, c := range []canonicalizer{new(simpleCanonicalizer), new(relaxedCanonicalizer)} {
		h := sha256.New()
		wc := c.CanonicalizeBody(h)
		wc.Write(text) // takes the scratch buffer
		allocs := testing.AllocsPerRun(50, func() {
			wc.Write(text)
			wc.Write(blank)
		})
		wc.Close()
		if allocs != 0 {
			t.Errorf("%T: %v allocations per write", c, allocs)
		}
	}
}

func BenchmarkBodyCanonicalizer(b *testing.B) {
	texts := []struct{ name, line string }{
		// Every line has a WSP run to fold.
		{"", "The quick brown fox  jumps over the lazy dog.\r\n"},
		// Prose: single spaces, one line in four with trailing spaces.
		{"-prose", "The quick brown fox jumps over the lazy dog, again and again.\r\n" +
			"Pack my box with five dozen liquor jugs; then send it on Monday.\r\n" +
			"Sphinx of black quartz, judge my vow: how vexingly quick daft zebras jump.  \r\n" +
			"\r\n"},
	}
	for _, tx := range texts {
		text := []byte(strings.Repeat(tx.line, 64<<10/len(tx.line)+1))[:64<<10]
		for _, bc := range []struct {
			name string
			new  func(io.Writer) io.WriteCloser
		}{
			{"simple", new(simpleCanonicalizer).CanonicalizeBody},
			{"relaxed", new(relaxedCanonicalizer).CanonicalizeBody},
			{"simple-v0.7.0", func(w io.Writer) io.WriteCloser { return &v070simpleBodyCanonicalizer{w: w} }},
			{"relaxed-v0.7.0", func(w io.Writer) io.WriteCloser { return &v070relaxedBodyCanonicalizer{w: w} }},
		} {
			b.Run(bc.name+tx.name, func(b *testing.B) {
				b.SetBytes(int64(len(text)) * 16)
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					wc := bc.new(io.Discard)
					for j := 0; j < 16; j++ {
						wc.Write(text)
					}
					wc.Close()
				}
			})
		}
	}
}

// TestHeldBreaksPermFail: through Verify, a body beyond maxHeldBreaks is a
// permanent failure of the signature, not a stream error.
func TestHeldBreaksPermFail(t *testing.T) {
	body := "x" + strings.Repeat("\r\r\n", maxHeldBreaks/2) + "y\r\n"
	msg := "DKIM-Signature: v=1; a=rsa-sha256; c=simple/relaxed; d=example.com; s=brisbane; h=From; bh=AAAA; b=AAAA\r\n" +
		"From: a@example.com\r\n\r\n" + body
	verifs, err := Verify(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(verifs) != 1 || !IsPermFail(verifs[0].Err) || verifs[0].Err != errHeldBreaks {
		t.Fatalf("verifications %+v, want one with %v", verifs, errHeldBreaks)
	}
}

// TestStops compares stops with a definition octet by octet, over words of
// octets around the boundaries it tests.
func TestStops(t *testing.T) {
	alphabet := []byte{0x00, '\t', '\n', '\r', 0x1f, ' ', '!', 'a', 0x7f, 0x80, 0x9f, 0xa0, 0xa1, 0xe0, 0xff}
	rnd := uint64(1)
	for n := 0; n < 200000; n++ {
		var w [8]byte
		for i := range w {
			rnd = rnd*6364136223846793005 + 1442695040888963407
			w[i] = alphabet[(rnd>>33)%uint64(len(alphabet))]
		}
		var want uint64
		for i, c := range w {
			stop := c < 0x20 || c == ' ' && (i == 7 || w[i+1] < 0x21)
			if stop {
				want |= 0x80 << (8 * i)
			}
		}
		x := uint64(0)
		for i := 7; i >= 0; i-- {
			x = x<<8 | uint64(w[i])
		}
		if got := stops(x); got != want {
			t.Fatalf("stops(%q) = %#x, want %#x", w, got, want)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestRelaxedLongRunWriteError: a run handed to the writer without a copy
// reports the writer's error, as a copied one does.
func TestRelaxedLongRunWriteError(t *testing.T) {
	for _, body := range []string{strings.Repeat("abcdefgh", 1000), "a\r\n\r\n" + strings.Repeat("abcdefgh", 1000)} {
		wc := new(relaxedCanonicalizer).CanonicalizeBody(failWriter{})
		if _, err := wc.Write([]byte(body)); err != io.ErrClosedPipe {
			t.Errorf("%d octets: Write error %v, want %v", len(body), err, io.ErrClosedPipe)
		}
	}
}

// relaxedHeaderV070 is v0.7.0's relaxed header canonicalization, kept as
// the reference for fields without a bare CR.
func relaxedHeaderV070(s string) string {
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return strings.TrimSpace(strings.ToLower(s)) + ":" + crlf
	}
	k = strings.TrimSpace(strings.ToLower(k))
	v = strings.Join(strings.FieldsFunc(v, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r'
	}), " ")
	return k + ":" + v + crlf
}

// TestRelaxedHeaderBareCR (authmilter patch): a CR that is not part of
// CRLF is not WSP (RFC 6376 section 3.4.2): relaxed canonicalization keeps
// it. Fields as readHeader makes them, without one, canonicalize as in
// v0.7.0.
func TestRelaxedHeaderBareCR(t *testing.T) {
	c := new(relaxedCanonicalizer)
	for _, tc := range []struct{ in, want string }{
		{"Subject: hi\rthere  \r\n", "subject:hi\rthere\r\n"},
		{"Subject: a \r b\r\n", "subject:a \r b\r\n"},
		{"Subject: hi \r\r\n", "subject:hi \r\r\n"},
		{"Subject:\r hi\r\n", "subject:\r hi\r\n"},
		{"From: <a@example.com>\rFrom: <b@evil.example>\r\n", "from:<a@example.com>\rFrom: <b@evil.example>\r\n"},
	} {
		if got := c.CanonicalizeHeader(tc.in); got != tc.want {
			t.Errorf("CanonicalizeHeader(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{
		"SubjeCT: Your Name\r\n", "Subject \t:\t Your Name\t \r\n", "Subject \t:\t Kimi \t \r\n No \t\r\n Na Wa\r\n",
		"Subject:\r\n folded\r\n", "Subject: \t\r\n \r\n\t\r\n", "Subject:\r\n", "Subject: a  \t b\r\n", "no colon\r\n",
		"DKIM-Signature: v=1; a=rsa-sha256;\r\n b=AbC\r\n dEf\r\n",
	} {
		if got, want := c.CanonicalizeHeader(in), relaxedHeaderV070(in); got != want {
			t.Errorf("CanonicalizeHeader(%q) = %q, v0.7.0 %q", in, got, want)
		}
	}
}
