package failure

import (
	"slices"
	"testing"

	"github.com/authmilter/authmilter/auth/dmarc"
)

func mustRecord(t *testing.T, s string) *dmarc.Record {
	t.Helper()
	r, err := dmarc.ParseRecord(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDecide(t *testing.T) {
	const ruf = "v=DMARC1; p=reject; ruf=mailto:f@example.com"
	res := func(st dmarc.Status, spfAl, dkimAl bool) dmarc.Result {
		return dmarc.Result{Result: st, Domain: "example.com", OrgDomain: "example.com", RecordDomain: "example.com",
			SPFAligned: spfAl, DKIMAligned: dkimAl}
	}
	failDKIM := []DKIM{{Domain: "other.example", Selector: "s", Result: "fail"}}
	cases := []struct {
		name   string
		record string
		res    dmarc.Result
		spf    string
		dkim   []DKIM
		want   []string
	}{
		{"fo=0 all fail", ruf, res(dmarc.ResultFail, false, false), "fail", nil, []string{"0"}},
		{"fo=0 spf aligned only", ruf, res(dmarc.ResultPass, true, false), "pass", nil, nil},
		{"fo=0 pass", ruf, res(dmarc.ResultPass, true, true), "pass", nil, nil},
		{"fo=1 one unaligned", ruf + "; fo=1", res(dmarc.ResultPass, true, false), "pass", nil, []string{"1"}},
		{"fo=1 dkim only", ruf + "; fo=1", res(dmarc.ResultPass, false, true), "none", nil, []string{"1"}},
		{"fo=1 all fail", ruf + "; fo=1", res(dmarc.ResultFail, false, false), "fail", nil, []string{"1"}},
		{"fo=1 both aligned", ruf + "; fo=1", res(dmarc.ResultPass, true, true), "pass", nil, nil},
		{"fo=d unaligned dkim fail", ruf + "; fo=d", res(dmarc.ResultPass, true, true), "pass", failDKIM, []string{"d"}},
		{"fo=d dkim permerror", ruf + "; fo=d", res(dmarc.ResultPass, true, false), "pass", []DKIM{{Domain: "example.com", Result: "permerror"}}, []string{"d"}},
		{"fo=d dkim temperror", ruf + "; fo=d", res(dmarc.ResultPass, true, false), "pass", []DKIM{{Domain: "example.com", Result: "temperror"}}, nil},
		{"fo=d no signature", ruf + "; fo=d", res(dmarc.ResultFail, false, false), "fail", nil, nil},
		{"fo=s spf fail", ruf + "; fo=s", res(dmarc.ResultPass, false, true), "fail", nil, []string{"s"}},
		{"fo=s softfail", ruf + "; fo=s", res(dmarc.ResultPass, false, true), "softfail", nil, nil},
		{"fo=0:d:s all", ruf + "; fo=0:d:s", res(dmarc.ResultFail, false, false), "fail", failDKIM, []string{"0", "d", "s"}},
		{"psd=y never", ruf + "; psd=y; fo=1", res(dmarc.ResultFail, false, false), "fail", failDKIM, nil},
		{"psd=n reports", ruf + "; psd=n", res(dmarc.ResultFail, false, false), "fail", nil, []string{"0"}},
		{"no ruf", "v=DMARC1; p=reject; rua=mailto:a@example.com; fo=1", res(dmarc.ResultFail, false, false), "fail", nil, nil},
		{"temperror", ruf + "; fo=1", res(dmarc.ResultTemperror, false, false), "temperror", nil, nil},
		{"permerror", ruf + "; fo=1", res(dmarc.ResultPermerror, false, false), "fail", nil, nil},
		{"none", ruf + "; fo=1", res(dmarc.ResultNone, false, false), "fail", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Result: c.res, Record: mustRecord(t, c.record), SPF: SPF{Domain: "example.com", Result: c.spf}, DKIM: c.dkim}
			if got := Decide(in); !slices.Equal(got, c.want) {
				t.Errorf("Decide = %q, want %q", got, c.want)
			}
		})
	}
	if got := Decide(Input{Result: res(dmarc.ResultFail, false, false)}); got != nil {
		t.Errorf("no record: %q", got)
	}
}

func TestIdentityAlignment(t *testing.T) {
	for _, c := range []struct {
		spf, dkim bool
		want      string
	}{{false, false, "dkim, spf"}, {true, false, "dkim"}, {false, true, "spf"}, {true, true, "none"}} {
		if got := IdentityAlignment(dmarc.Result{SPFAligned: c.spf, DKIMAligned: c.dkim}); got != c.want {
			t.Errorf("spf=%v dkim=%v: %q, want %q", c.spf, c.dkim, got, c.want)
		}
	}
}
