package dmarc

import (
	"errors"
	"slices"
	"testing"
)

func TestAuthorDomains(t *testing.T) {
	tests := []struct {
		name  string
		in    []string
		want  []string
		error error
	}{
		{"plain", []string{"a@Example.COM"}, []string{"example.com"}, nil},
		{"display name", []string{`"Doe, John" <john@example.com>`}, []string{"example.com"}, nil},
		{"unquoted dots", []string{`John Q. Public <jqp@example.com>`}, []string{"example.com"}, nil},
		{"comments", []string{`(c;o(m)ment) john(x)@(y)example.org (trailing)`}, []string{"example.org"}, nil},
		{"quoted local", []string{`"a b@c"@example.net`}, []string{"example.net"}, nil},
		{"quoted local angle", []string{`Who <"x>y"@example.net>`}, []string{"example.net"}, nil},
		{"folded", []string{"John\r\n Doe\r\n\t<john@example.com>"}, []string{"example.com"}, nil},
		{"trailing dot", []string{"<a@example.com.>"}, []string{"example.com"}, nil},
		{"encoded word", []string{"=?utf-8?q?J=C3=B6rg?= <j@example.de>"}, []string{"example.de"}, nil},
		{"utf-8 display", []string{"Jörg <j@example.de>"}, []string{"example.de"}, nil},
		{"idn", []string{"<info@Bücher.Example>"}, []string{"xn--bcher-kva.example"}, nil},
		{"idn a-label", []string{"info@xn--bcher-kva.example"}, []string{"xn--bcher-kva.example"}, nil},
		{"group", []string{"Team: a@x.example, b@y.example;"}, []string{"x.example", "y.example"}, nil},
		{"group without ;", []string{"Team: a@x.example"}, []string{"x.example"}, nil},
		{"two same domain", []string{"a@example.com, B <b@EXAMPLE.com>"}, []string{"example.com"}, nil},
		{"two domains", []string{"a@one.example, b@two.example, c@one.example"}, []string{"one.example", "two.example"}, nil},
		{"obs route", []string{"<@relay.example,@r2.example:u@example.com>"}, []string{"example.com"}, nil},
		{"empty elements", []string{", a@example.com,,"}, []string{"example.com"}, nil},
		{"none", nil, nil, ErrNoFrom},
		{"multiple", []string{"a@example.com", "b@example.com"}, nil, ErrMultipleFrom},
		{"empty", []string{""}, nil, ErrMalformedFrom},
		{"empty group", []string{"undisclosed-recipients:;"}, nil, ErrMalformedFrom},
		{"no at", []string{"John <john>"}, nil, ErrMalformedFrom},
		{"no domain", []string{"john@"}, nil, ErrMalformedFrom},
		{"literal", []string{"john@[192.0.2.1]"}, nil, ErrMalformedFrom},
		{"unterminated comment", []string{"a@example.com (x"}, nil, ErrMalformedFrom},
		{"unterminated quote", []string{`"a@example.com`}, nil, ErrMalformedFrom},
		{"missing >", []string{"A <a@example.com"}, nil, ErrMalformedFrom},
		{"double dot", []string{"a@example..com"}, nil, ErrMalformedFrom},
		{"NUL in a quoted string", []string{"\"a\x00\"@example.com"}, nil, ErrMalformedFrom},
		{"NUL in a comment", []string{"a@example.com (\x00)"}, nil, ErrMalformedFrom},
		{"NUL after the address", []string{"a@example.com\x00"}, nil, ErrMalformedFrom},
		{"bad char", []string{"a@exa!mple.com"}, nil, ErrMalformedFrom},
		{"garbage after", []string{"a@example.com b@example.com"}, nil, ErrMalformedFrom},
		{"bad idn", []string{"a@xn--.example"}, nil, ErrMalformedFrom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AuthorDomains(tt.in)
			if tt.error != nil {
				if !errors.Is(err, tt.error) {
					t.Fatalf("AuthorDomains(%q) error = %v, want %v", tt.in, err, tt.error)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("AuthorDomains(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzAuthorDomains(f *testing.F) {
	for _, s := range []string{
		"a@example.com", `"Doe, J" <j@example.com>`, "G: a@x.example, b@y.example;",
		"(c(n)) a@Bücher.example", "<@r:a@b.example>", `"\"q"@x.example`, "a@[1.2.3.4]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := AuthorDomains([]string{s})
		if err != nil {
			if !errors.Is(err, ErrMalformedFrom) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(ds) == 0 {
			t.Fatalf("no domain and no error for %q", s)
		}
		for _, d := range ds {
			if n, err := NormalizeDomain(d); err != nil || n != d {
				t.Fatalf("domain %q not normalised: %q %v", d, n, err)
			}
		}
	})
}
