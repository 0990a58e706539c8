package arc

import (
	"context"
	"errors"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/authres"
	"github.com/authmilter/authmilter/auth/dkim"
	"gopkg.in/yaml.v3"
)

type sealTest struct {
	Message    string `yaml:"message"`
	T          int64  `yaml:"t"`
	SigHeaders string `yaml:"sig-headers"`
	SrvID      string `yaml:"srv-id"`
	AMS        string `yaml:"AMS"`
	AAR        string `yaml:"AAR"`
	AS         string `yaml:"AS"`
}

type sealScenario struct {
	Domain     string              `yaml:"domain"`
	Sel        string              `yaml:"sel"`
	PrivateKey string              `yaml:"privatekey"`
	Tests      map[string]sealTest `yaml:"tests"`
	TXT        map[string]string   `yaml:"txt-records"`
}

// loadSignSuite reads the signing file's scenarios.
func loadSignSuite(t testing.TB) []sealScenario {
	t.Helper()
	f, err := os.Open("testdata/arc-valimail/arc-draft-sign-tests.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sealScenario
	d := yaml.NewDecoder(f)
	for {
		var sc sealScenario
		if err := d.Decode(&sc); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, sc)
	}
}

// tagSet is a tag list as the suite compares it: the set of its
// ";"-separated specs with all whitespace deleted; without b= when noB.
func tagSet(v string, noB bool) []string {
	v = strings.Join(strings.Fields(v), "")
	var out []string
	for _, spec := range strings.Split(v, ";") {
		if spec == "" || (noB && strings.HasPrefix(spec, "b=")) {
			continue
		}
		out = append(out, spec)
	}
	sort.Strings(out)
	return out
}

// suiteAuthResults merges the message's Authentication-Results fields of
// srv-id into one value (the suite's AAR convention: their results joined).
func suiteAuthResults(fields []string, srvID string) (string, Status) {
	var res []string
	for _, f := range fields {
		name, v, _ := strings.Cut(f, ":")
		if !strings.EqualFold(strings.TrimSpace(name), "Authentication-Results") {
			continue
		}
		if id, ok := authres.AuthservID(v); !ok || id != srvID {
			continue
		}
		_, rest, _ := strings.Cut(v, ";")
		for _, r := range strings.Split(rest, ";") {
			if r = strings.Join(strings.Fields(r), " "); r != "" {
				res = append(res, r)
			}
		}
	}
	cv := None
	for _, r := range res {
		if a, ok := strings.CutPrefix(r, "arc="); ok {
			cv = Status(strings.ToLower(strings.Fields(a)[0]))
		}
	}
	return srvID + "; " + strings.Join(res, ";\r\n\t"), cv
}

// TestValiMailSealing runs every signing case through our Signer with the
// suite's key and time: the AAR and the AMS (b= included: RSA signatures
// are deterministic) must equal the expected ones, the AS every tag but
// b= (the suite's AS b= values are not reproducible, testdata SOURCE.md),
// and the sealed message must verify with our verifier (cv=fail seals
// end the chain as fail). no_additional_sig must not be sealed.
func TestValiMailSealing(t *testing.T) {
	n := 0
	for _, sc := range loadSignSuite(t) {
		key, err := dkim.ParseSigningKey([]byte(sc.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		for id, tc := range sc.Tests {
			n++
			s, err := NewSigner(sc.Domain, sc.Sel, key, strings.Split(tc.SigHeaders, ":"))
			if err != nil {
				t.Fatal(err)
			}
			msg := crlf(tc.Message)
			fields, body := SplitHeader([]byte(msg))
			bh := dkim.NewBodyHasher(true, -1)
			bh.Write(body)
			sum, _, _ := bh.Sum()
			ar, cv := suiteAuthResults(fields, tc.SrvID)
			set, err := s.Seal(SealInput{Fields: fields, BodyHash: sum, AuthResults: ar, CV: cv, Time: time.Unix(tc.T, 0)})
			if tc.AMS == "" {
				if !errors.Is(err, ErrNoSeal) {
					t.Errorf("%s: sealed a failed chain: %v %+v", id, err, set)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", id, err)
				continue
			}
			for _, c := range []struct {
				what, got, want string
				noB             bool
			}{{"AAR", set.AAR, tc.AAR, false}, {"AMS", set.AMS, tc.AMS, false}, {"AS", set.Seal, tc.AS, true}} {
				if g, w := tagSet(c.got, c.noB), tagSet(c.want, c.noB); strings.Join(g, ";") != strings.Join(w, ";") {
					t.Errorf("%s: %s\n got %q\nwant %q", id, c.what, g, w)
				}
			}
			sealed := nameSeal + ": " + set.Seal + "\r\n" + nameAMS + ": " + set.AMS + "\r\n" +
				nameAAR + ": " + set.AAR + "\r\n" + msg
			res, _ := Verify(context.Background(), Options{Resolver: zone(sc.TXT)}, strings.NewReader(sealed))
			want := Pass
			if cv == Fail {
				want = Fail
			}
			if res.Result != want || res.Instances != set.Instance {
				t.Errorf("%s: our seal verifies as %+v, want %s", id, res, want)
			}
		}
	}
	if n != 17 {
		t.Errorf("ran %d signing cases, want 17", n)
	}
}
