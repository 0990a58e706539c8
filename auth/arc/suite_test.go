package arc

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/dns"
	"gopkg.in/yaml.v3"
)

// zone answers TXT queries from a map; other names are NXDOMAIN.
type zone map[string]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := z[strings.TrimSuffix(name, ".")]; ok {
		return []string{v}, nil
	}
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

type suiteTest struct {
	Message string `yaml:"message"`
	CV      string `yaml:"cv"`
}

type suiteScenario struct {
	Description string               `yaml:"description"`
	Tests       map[string]suiteTest `yaml:"tests"`
	TXT         map[string]string    `yaml:"txt-records"`
}

// crlf converts the suite's LF line ends to CRLF (testdata SOURCE.md).
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// loadSuite reads the validation file. Four test ids occur twice in one
// scenario (as_fields_b_head_case, _head_unfold, _eol_wsp, _inl_wsp);
// yaml.v3 refuses duplicate keys, so the scenarios are walked as nodes and
// the later case wins, as with PyYAML, which gives the 171 of SOURCE.md.
func loadSuite(t testing.TB) []suiteScenario {
	t.Helper()
	f, err := os.Open("testdata/arc-valimail/arc-draft-validation-tests.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []suiteScenario
	d := yaml.NewDecoder(f)
	for {
		var doc yaml.Node
		if err := d.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		sc := suiteScenario{Tests: map[string]suiteTest{}, TXT: map[string]string{}}
		m := doc.Content[0].Content
		for i := 0; i+1 < len(m); i += 2 {
			k, v := m[i].Value, m[i+1]
			var err error
			switch k {
			case "description":
				sc.Description = v.Value
			case "txt-records":
				err = v.Decode(&sc.TXT)
			case "tests":
				for j := 0; j+1 < len(v.Content); j += 2 {
					var tc suiteTest
					if err = v.Content[j+1].Decode(&tc); err != nil {
						break
					}
					sc.Tests[v.Content[j].Value] = tc
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(sc.Tests) > 0 {
			out = append(out, sc)
		}
	}
	return out
}

// TestValiMailValidation runs every validation case of the ValiMail suite
// (171 cases). The three cases with an empty expected cv ("") are chains
// holding a seal with cv=fail; RFC 8617 §5.2 makes those fail, and they are
// counted as expecting fail.
func TestValiMailValidation(t *testing.T) {
	n, empty := 0, 0
	for _, sc := range loadSuite(t) {
		for _, id := range slices.Sorted(maps.Keys(sc.Tests)) {
			tc := sc.Tests[id]
			want := Status(strings.ToLower(tc.CV))
			if want == "" {
				want, empty = Fail, empty+1
			}
			n++
			t.Run(id, func(t *testing.T) {
				res, err := Verify(context.Background(), Options{Resolver: zone(sc.TXT)}, strings.NewReader(crlf(tc.Message)))
				if err != nil {
					t.Fatal(err)
				}
				if res.Result != want {
					t.Errorf("%s: got %s (%s), want %s", sc.Description, res.Result, res.Reason, want)
				}
			})
		}
	}
	if n != 171 || empty != 3 {
		t.Errorf("ran %d cases (%d with empty cv), want 171 (3)", n, empty)
	}
}
