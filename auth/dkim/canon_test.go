package dkim

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// TestStops compares stops with its definition octet by octet, over words
// of octets around the boundaries it tests.
func TestStops(t *testing.T) {
	alphabet := []byte{0x00, '\t', '\n', '\r', 0x1f, ' ', '!', 'a', 0x7f, 0x80, 0x9f, 0xa0, 0xa1, 0xe0, 0xff}
	rnd := uint64(1)
	for range 200000 {
		var w [8]byte
		for i := range w {
			rnd = rnd*6364136223846793005 + 1442695040888963407
			w[i] = alphabet[(rnd>>33)%uint64(len(alphabet))]
		}
		var want uint64
		for i, c := range w {
			if c < 0x20 || c == ' ' && (i == 7 || w[i+1] < 0x21) {
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

// TestBodyCanonicalizersAllocs: no allocation per write once the scratch
// buffer is taken, and a run of empty lines is held as a count; text with
// bare LFs (copied to insert CRs) does not allocate either.
func TestBodyCanonicalizersAllocs(t *testing.T) {
	text := []byte(strings.Repeat("The quick brown fox  jumps over the lazy dog.\r\n", 1300)) // ~60 KiB
	lfText := []byte(strings.Repeat("The quick brown fox  jumps over the lazy dog.\n", 1300))
	blank := []byte(strings.Repeat("\r\n", 30000))
	for _, relaxed := range []bool{false, true} {
		out := &bodyHash{h: sha256.New(), limit: -1}
		c := newBodyCanonicalizer(relaxed, out)
		c.write(lfText) // takes the scratch buffer
		allocs := testing.AllocsPerRun(50, func() {
			c.write(text)
			c.write(blank)
			c.write(lfText)
		})
		c.close()
		if allocs != 0 {
			t.Errorf("relaxed %v: %v allocations per write", relaxed, allocs)
		}
	}
}

// TestRelaxedHeldBreaksBounded: line breaks mixed with lone CRs are held
// as bytes up to maxHeldBreaks, then the body is marked unusable and
// nothing more is held.
func TestRelaxedHeldBreaksBounded(t *testing.T) {
	out := &bodyHash{h: sha256.New(), limit: -1}
	c := newBodyCanonicalizer(true, out).(*relaxedBody)
	chunk := []byte(strings.Repeat("\r\r\n", 4096))
	for range 2 * maxHeldBreaks / len(chunk) {
		c.write(chunk)
		if len(c.held) > maxHeldBreaks {
			t.Fatalf("%d octets held", len(c.held))
		}
	}
	if !out.tooManyBreaks || c.held != nil {
		t.Fatalf("tooManyBreaks %v, %d octets held", out.tooManyBreaks, len(c.held))
	}
}

// TestBodyHashLimit: l= hashes the first octets and counts them all.
func TestBodyHashLimit(t *testing.T) {
	whole, part := &bodyHash{h: sha256.New(), limit: -1}, &bodyHash{h: sha256.New(), limit: 5}
	for _, b := range []*bodyHash{whole, part} {
		c := newBodyCanonicalizer(false, b)
		c.write([]byte("Hel"))
		c.write([]byte("lo world\r\n\r\n"))
		c.close()
	}
	if whole.n != 13 || part.n != 13 {
		t.Errorf("counted %d and %d octets, want 13", whole.n, part.n)
	}
	if want := sha256.Sum256([]byte("Hello")); string(part.h.Sum(nil)) != string(want[:]) {
		t.Error("l=5 did not hash \"Hello\"")
	}
}
