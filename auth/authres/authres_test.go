package authres

import (
	"strings"
	"testing"
	"unicode"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name  string
		id    string
		spf   *SPFResult
		helo  *SPFResult
		dkim  []DKIMResult
		dmarc *DMARCResult
		want  string
	}{
		{name: "nothing", id: "mx.example.org", want: "mx.example.org; none"},
		{name: "all", id: "mx.example.org",
			spf:  &SPFResult{Result: "pass", Identity: "bounce@a.example", Reason: "192.0.2.1 is allowed"},
			helo: &SPFResult{Result: "none", Identity: "mail.a.example"},
			dkim: []DKIMResult{{Result: "pass", Domain: "a.example", Identity: "@a.example", Selector: "s1",
				Signature: "abcdefghijklmnop"}},
			dmarc: &DMARCResult{Result: "pass", From: "a.example", Policy: "reject"},
			want: "mx.example.org;\r\n" +
				"\tspf=pass (192.0.2.1 is allowed) smtp.mailfrom=bounce@a.example;\r\n" +
				"\tspf=none smtp.helo=mail.a.example;\r\n" +
				"\tdkim=pass header.d=a.example header.i=@a.example header.s=s1\r\n" +
				"\theader.b=abcdefgh;\r\n" +
				"\tdmarc=pass header.from=a.example policy.dmarc=reject"},
		{name: "dmarc none without policy", id: "mx",
			dmarc: &DMARCResult{Result: "none", From: "a.example"},
			want:  "mx;\r\n\tdmarc=none header.from=a.example"},
		{name: "hostile text", id: "mx",
			spf: &SPFResult{Result: "Fail", Identity: "\"a b\"@x.example",
				Reason: "evil) (nested\\ \r\n\x00text ünï"},
			dkim: []DKIMResult{{Result: "fail", Domain: "x.example; dmarc=pass", Signature: "ab/c+d=e"}},
			want: "mx;\r\n" +
				"\tspf=fail (evil\\) \\(nested\\\\ text ?n?) smtp.mailfrom=\"\\\"a b\\\"@x.example\";\r\n" +
				"\tdkim=fail header.d=\"x.example; dmarc=pass\" header.b=\"ab/c+d=e\""},
		{name: "long comment folds inside", id: "mx",
			spf: &SPFResult{Result: "temperror", Identity: "very-long-local-part@a-rather-long-subdomain.example.com",
				Reason: "DNS timeout while looking up include:_spf.example.net"},
			want: "mx;\r\n" +
				"\tspf=temperror (DNS timeout while looking up include:_spf.example.net)\r\n" +
				"\tsmtp.mailfrom=very-long-local-part@a-rather-long-subdomain.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Format(tt.id, tt.spf, tt.helo, tt.dkim, tt.dmarc)
			if got != tt.want {
				t.Errorf("Format =\n%q\nwant\n%q", got, tt.want)
			}
			checkLines(t, got)
			if id, ok := AuthservID(got); !ok || id != tt.id {
				t.Errorf("AuthservID(Format) = %q %v", id, ok)
			}
		})
	}
}

// checkLines asserts the 78-octet limit, counting the field name.
func checkLines(t *testing.T, v string) {
	t.Helper()
	for i, l := range strings.Split(FieldName+": "+v, "\r\n") {
		if len(l) > maxLine && strings.Contains(strings.TrimSpace(l), " ") {
			t.Errorf("line %d has %d octets: %q", i, len(l), l)
		}
		if i > 0 && !strings.HasPrefix(l, "\t") {
			t.Errorf("line %d is not folded with a TAB: %q", i, l)
		}
		if strings.ContainsAny(l, "\r\n\x00") {
			t.Errorf("line %d has a bare CR, LF or NUL: %q", i, l)
		}
	}
}

func TestFormatManyDKIM(t *testing.T) {
	var ds []DKIMResult
	for range 5 {
		ds = append(ds, DKIMResult{Result: "pass", Domain: "sub.domain.example.com", Identity: "someone@sub.domain.example.com",
			Selector: "selector-2026-11", Signature: "AAAAAAAAAAAAAAAA", Reason: strings.Repeat("x ", 40)})
	}
	v := Format("authmilter.mx.example.org", nil, nil, ds, nil)
	checkLines(t, v)
	if n := strings.Count(v, "dkim=pass"); n != 5 {
		t.Errorf("%d dkim results", n)
	}
}

func TestAuthservID(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"mx.example.org; spf=pass smtp.mailfrom=a.example", "mx.example.org", true},
		{"mx.example.org 1; none", "mx.example.org", true},
		{"MX.Example.ORG;none", "MX.Example.ORG", true},
		{"mx.example.org", "mx.example.org", true},
		{"  (leading; comment (nested) ) mx.example.org (trailing) ; dkim=pass", "mx.example.org", true},
		{"(a \\) b; c) mx.example.org;", "mx.example.org", true},
		{"\r\n\tmx.example.org;\r\n\tspf=pass", "mx.example.org", true},
		{`"quoted id" ; none`, "quoted id", true},
		{`"q\"x";`, `q"x`, true},
		{"mx.example.org spf=pass", "mx.example.org", true}, // missing ";": still ours
		{"mx.example.org(c);", "mx.example.org", true},
		{"", "", false},
		{"; spf=pass", "", false},
		{"(unterminated mx.example.org; spf=pass", "", false},
		{`"unterminated`, "", false},
		{"mx.example.org/x; none", "", false},
		{"mx.example.org=1; none", "", false},
	}
	for _, tt := range tests {
		got, ok := AuthservID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("AuthservID(%q) = %q %v, want %q %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if !HasAuthservID("(x;y) MX.example.org; none", "mx.EXAMPLE.org") {
		t.Error("HasAuthservID: case-insensitive match failed")
	}
	if HasAuthservID("mx.example.org.evil; none", "mx.example.org") {
		t.Error("HasAuthservID: suffix matched")
	}
}

func FuzzAuthservID(f *testing.F) {
	for _, s := range []string{
		"mx.example.org; spf=pass", "(c;(n)) x 1; none", `"q\"id" ;`, "\r\n\tid;\r\n\tdkim=fail (a;b)", "(",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := AuthservID(s)
		if ok != (id != "") {
			t.Fatalf("AuthservID(%q) = %q %v", s, id, ok)
		}
		if !ok {
			return
		}
		// What Format writes for that id parses back to the same id.
		v := Format(id, &SPFResult{Result: "pass", Identity: s, Reason: s}, nil, nil, &DMARCResult{Result: "fail", From: s})
		if strings.Contains(v, "\n\n") || strings.ContainsRune(v, 0) {
			t.Fatalf("bad Format output %q", v)
		}
		if got, ok := AuthservID(v); !ok || (got != clean(id) && clean(id) != "") {
			t.Fatalf("round trip: %q -> %q -> %q %v", id, v, got, ok)
		}
	})
}

// TestHasAuthservID: the fields a receiver removes as claiming to be ours
// (RFC 8601 §5) are those any reasonable reader could take for ours.
func TestHasAuthservID(t *testing.T) {
	tests := []struct {
		value string
		ours  bool
	}{
		// The §2.2 reading; ids compared case-insensitively, a trailing dot ignored (§2.5).
		{"mx.example; spf=pass", true},
		{"mx.example", true},
		{"MX.Example.; none", true},
		{"MX.Example.", true},
		{"mx.example.;", true},
		{"mx.example 1; none", true},
		{"(comment) mx.example;", true},
		{"(a (nested; comment)) mx.example; none", true},
		{"\r\n\tmx.example;\r\n\tspf=pass", true},
		{`"mx.example"; none`, true},
		{`"MX.EXAMPLE."; none`, true},
		{"mx.example (unterminated", true},
		{"mx.example(c);", true},
		{"mx.example spf=pass", true},
		// The id followed by something a lenient reader stops at.
		{"mx.example,other; none", true},
		{"mx.example/1; none", true},
		{"mx.example=x; none", true},
		{"mx.example@x; none", true},
		{"mx.example\u00a0x; none", true},
		{`"mx.example other"; none`, true}, // a reader splitting at whitespace
		{"\u00a0mx.example; none", true},
		// A comment that ends earlier for a reader that does not nest
		// comments or honour quoted-pairs.
		{"(a (b) mx.example) other; none", true},
		{`(a \) mx.example) other; none`, true},
		{"(a (b) (c) mx.example) other; none", true},
		// No readable authserv-id: ours if any word is.
		{"(unterminated mx.example; spf=pass", true},
		{"(comment mx.example", true},
		{"(a (b) mx.example; none", true},
		{`"mx.example; none`, true},
		{"; spf=pass smtp.mailfrom=mx.example", true},
		{"\vmx.example; none", true},
		{`""mx.example;`, true},
		// Not ours.
		{"mx.example.org; spf=pass", false},
		{"mx.example.org.; spf=pass", false},
		{"other mx.example; none", false},
		{"other; spf=pass smtp.mailfrom=mx.example", false},
		{"(mx.example) other; none", false},
		{"(via mx.example) other; none", false},
		{"sub.mx.example; none", false},
		{"mx.example..; none", false},
		{"mx-example; none", false},
		{"other/mx.example; none", false},
		{"(unterminated other; none", false},
		{"", false},
		{"; none", false},
	}
	for _, id := range []string{"mx.example", "MX.EXAMPLE.", "Mx.Example"} {
		for _, tt := range tests {
			if got := HasAuthservID(tt.value, id); got != tt.ours {
				t.Errorf("HasAuthservID(%q, %q) = %v, want %v", tt.value, id, got, tt.ours)
			}
		}
	}
	if HasAuthservID("mx.example; none", "") || HasAuthservID(".; none", ".") {
		t.Error("an empty id matched")
	}
}

// FuzzHasAuthservID: whatever AuthservID reads as an id is ours to
// HasAuthservID; a value that does not mention the id at all is never ours.
func FuzzHasAuthservID(f *testing.F) {
	for _, s := range []string{
		"mx.example; spf=pass", "MX.Example.;", "(c) mx.example;", "mx.example (unterminated",
		"mx.example,other;", "mx.example/1;", "(a (b) mx.example) other;", `(a \) mx.example) x;`,
		"(unterminated mx.example;", `"mx.example`, "other mx.example;", "mx.example.org;",
		"\u00a0mx.example;", "",
	} {
		f.Add(s, "mx.example")
	}
	f.Fuzz(func(t *testing.T, value, id string) {
		ours := HasAuthservID(value, id)
		if got, ok := AuthservID(value); ok && strings.EqualFold(strings.TrimSuffix(got, "."), strings.TrimSuffix(id, ".")) &&
			strings.TrimSuffix(id, ".") != "" && !strings.ContainsFunc(got, unicode.IsSpace) && !ours {
			t.Fatalf("AuthservID(%q) = %q, but HasAuthservID(_, %q) = false", value, got, id)
		}
		bare := strings.TrimSuffix(id, ".")
		if ours && !strings.Contains(strings.ToLower(value), strings.ToLower(bare)) && isASCII(value) && isASCII(id) {
			t.Fatalf("HasAuthservID(%q, %q): the id is not in the value", value, id)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
