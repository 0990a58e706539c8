package mtasts

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseRecord(t *testing.T) {
	for _, tt := range []struct {
		txt   string
		id    string
		isSTS bool
		bad   bool
	}{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z", true, false},
		{"v=STSv1;id=abc", "abc", true, false},
		{"v=STSv1; id=abc; ext=1", "abc", true, false},
		{"v=STSv1; id=a; id=b", "a", true, false},
		{"v=spf1 -all", "", false, false},
		{"v=STSv2; id=abc", "", false, false},
		{"v=STSv1;", "", true, true},
		{"v=STSv1; id=", "", true, true},
		{"v=STSv1; id=a-b", "", true, true},
		{"v=STSv1; id=" + strings.Repeat("a", 33), "", true, true},
		{"v=STSv1;; id=a", "", true, true},
		{"v=STSv1; bogus", "", true, true},
	} {
		rec, isSTS, err := ParseRecord(tt.txt)
		if isSTS != tt.isSTS || (err != nil) != tt.bad || rec.ID != tt.id {
			t.Errorf("ParseRecord(%q) = %+v, %v, %v", tt.txt, rec, isSTS, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRecord(%q): %v is not ErrInvalid", tt.txt, err)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       Policy
		bad        bool
	}{
		{"rfc example", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			Policy{ModeEnforce, 604800, []string{"mail.example.com", "*.example.net", "backupmx.example.com"}}, false},
		{"lf, no final newline", "version: STSv1\nmode: testing\nmx: MX.Example.COM.\nmax_age: 86400",
			Policy{ModeTesting, 86400, []string{"mx.example.com"}}, false},
		{"none without mx", "version: STSv1\nmode: none\nmax_age: 0\n", Policy{ModeNone, 0, nil}, false},
		{"extension ignored", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nfoo_bar: baz qux\n",
			Policy{ModeEnforce, 1, []string{"a.example"}}, false},
		{"first mode wins", "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n",
			Policy{ModeTesting, 1, []string{"a.example"}}, false},
		{"max_age clamped", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 9999999999\n",
			Policy{ModeEnforce, MaxAge, []string{"a.example"}}, false},
		{"max_age 11 digits", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999\n", Policy{}, true},
		{"max_age negative", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", Policy{}, true},
		{"no version", "mode: enforce\nmx: a.example\nmax_age: 1\n", Policy{}, true},
		{"version 2", "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", Policy{}, true},
		{"bad mode", "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", Policy{}, true},
		{"no mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", Policy{}, true},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", Policy{}, true},
		{"bad mx", "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", Policy{}, true},
		{"mx wildcard in the middle", "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n", Policy{}, true},
		{"not key value", "version: STSv1\nmode enforce\n", Policy{}, true},
		{"html", "<html><body>hello</body></html>", Policy{}, true},
		{"too big", strings.Repeat("x: y\n", MaxPolicyBytes/5+1), Policy{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy(tt.text)
			if (err != nil) != tt.bad {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalid) || FailureType(err) != "sts-policy-invalid" {
					t.Errorf("%v: not ErrInvalid / sts-policy-invalid", err)
				}
				return
			}
			if p.Mode != tt.want.Mode || p.MaxAge != tt.want.MaxAge || !slices.Equal(p.MX, tt.want.MX) {
				t.Errorf("got %+v, want %+v", p, tt.want)
			}
		})
	}
}

// TestMatches: RFC 8461 section 4.1, "*." matches exactly one label.
func TestMatches(t *testing.T) {
	p := Policy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com":    true,
		"MAIL.Example.Com.":   true,
		"mx.example.net":      true,
		"a.b.example.net":     false,
		"example.net":         false,
		".example.net":        false,
		"mail.example.com.au": false,
		"other.example.com":   false,
	} {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}
}
