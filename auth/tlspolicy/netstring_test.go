package tlspolicy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadNetstring(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		err      error
	}{
		{"12:hello world!,", "hello world!", nil},
		{"21:", "", ErrNetstring}, // over the limit of 20
		{"0:,", "", nil},
		{"", "", io.EOF},
		{"3:ab", "", ErrNetstring},
		{"3:abc;", "", ErrNetstring},
		{"x:abc,", "", ErrNetstring},
		{":abc,", "", ErrNetstring},
		{"03:abc,", "", ErrNetstring},
		{"1234567890:", "", ErrNetstring},
	} {
		got, err := ReadNetstring(bufio.NewReader(strings.NewReader(tt.in)), 20)
		if string(got) != tt.want || !errors.Is(err, tt.err) && err != tt.err {
			t.Errorf("%q: %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// FuzzReadNetstring: no panic, no read past the limit; what reads back
// is what AppendNetstring writes.
func FuzzReadNetstring(f *testing.F) {
	f.Add([]byte("20:postfix example.test,"))
	f.Add([]byte("0:,3:abc,"))
	f.Add([]byte("99999999:"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		for {
			s, err := ReadNetstring(r, MaxRequest)
			if err != nil {
				return
			}
			if len(s) > MaxRequest {
				t.Fatalf("%d bytes", len(s))
			}
			back, err := ReadNetstring(bufio.NewReader(bytes.NewReader(AppendNetstring(nil, string(s)))), MaxRequest)
			if err != nil || !bytes.Equal(back, s) {
				t.Fatalf("round trip of %q: %q %v", s, back, err)
			}
		}
	})
}
