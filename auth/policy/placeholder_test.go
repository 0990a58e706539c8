package policy

import (
	"strings"
	"testing"
)

func TestUnknownPlaceholder(t *testing.T) {
	for _, c := range []struct {
		text       string
		withDomain bool
		want       string
	}{
		{"DMARC policy of {domain} rejects", true, ""},
		{"{domain} and {domain}", true, ""},
		{"DMARC policy of {domian} rejects", true, "{domian}"},
		{"{domain} {sender}", true, "{sender}"},
		{"no From from {domain}", false, "{domain}"},
		{"a lone { brace", true, ""},
		{"a lone } brace", true, ""},
		{"{}", true, "{}"},
		{"%s rejects", true, ""},
	} {
		if got := unknownPlaceholder(c.text, c.withDomain); got != c.want {
			t.Errorf("unknownPlaceholder(%q, %v) = %q, want %q", c.text, c.withDomain, got, c.want)
		}
	}
}

// FuzzUnknownPlaceholder: what is reported is a {…} taken from the text,
// and a text without one is never refused.
func FuzzUnknownPlaceholder(f *testing.F) {
	for _, s := range []string{"DMARC policy of {domain} rejects", "{x}", "{{domain}}", "{", "}{", "{domain"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, withDomain bool) {
		got := unknownPlaceholder(text, withDomain)
		if got == "" {
			return
		}
		if !strings.Contains(text, got) || got[0] != '{' || got[len(got)-1] != '}' || strings.Count(got, "}") != 1 {
			t.Fatalf("unknownPlaceholder(%q) = %q", text, got)
		}
		if withDomain && got == "{domain}" {
			t.Fatalf("{domain} refused in %q", text)
		}
	})
}
