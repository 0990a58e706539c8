package report

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func readSample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/dmarc-rfc9990/sample-report.xml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLintSampleClean(t *testing.T) {
	s := readSample(t)
	lintClean(t, []byte(s))
	validateXSD(t, []byte(s))
}

// TestLintCatches mutates the sample report: each case must give a
// problem containing want. The first four pass the XSD (its blind spots).
func TestLintCatches(t *testing.T) {
	s := readSample(t)
	dkim := "   <dkim>\n    <domain>example.com</domain>\n    <selector>s2026</selector>\n    <result>pass</result>\n   </dkim>\n"
	cases := []struct{ name, old, new, want string }{
		{"negative count", "<count>42</count>", "<count>-5</count>", "count"},
		{"bad ip", "<source_ip>192.0.2.10</source_ip>", "<source_ip>not-an-ip</source_ip>", "source_ip"},
		{"zone ip", "<source_ip>2001:db8::25</source_ip>", "<source_ip>fe80::1%eth0</source_ip>", "source_ip"},
		{"empty selector", "<selector>s2026</selector>", "<selector></selector>", "selector"},
		{"unnamespaced extension", "  </auth_results>\n </record>", "  </auth_results>\n  <x xmlns=\"\">1</x>\n </record>", "extension"},
		{"pct", "<testing>n</testing>", "<testing>n</testing><pct>100</pct>", "pct"},
		{"report id", "<report_id>20260601examplecom7f3a9c</report_id>", "<report_id>abc@example</report_id>", "report_id"},
		{"begin after end", "<begin>1780272000</begin>", "<begin>1780358400</begin>", "date_range"},
		{"over 24h", "<begin>1780272000</begin>", "<begin>1780185600</begin>", "24 h"},
		{"unaligned", "<begin>1780272000</begin>", "<begin>1780272001</begin>", "aligned"},
		{"test mode without t=y", "<type>local_policy</type>", "<type>policy_test_mode</type>", "policy_test_mode"},
		{"missing reason", "    <reason>\n     <type>local_policy</type>\n     <comment>p=reject applied as quarantine: no evidence besides DMARC</comment>\n    </reason>\n", "", "reason"},
		{"upper-case domain", "<header_from>news.example.com</header_from>", "<header_from>News.Example.com</header_from>", "header_from"},
		{"no namespace", ` xmlns="urn:ietf:params:xml:ns:dmarc-2.0"`, "", "namespace"},
		{"version", "<version>1.0</version>", "<version>2</version>", "version"},
		{"too many dkim", "  <auth_results>\n" + dkim, "  <auth_results>\n" + strings.Repeat(dkim, 101), "dkim results"},
		{"pass after fail", "    <human_result>body hash mismatch</human_result>\n   </dkim>\n", "    <human_result>body hash mismatch</human_result>\n   </dkim>\n" + dkim, "after a non-pass"},
		{"default not filled in", "  <np>reject</np>\n", "", "np missing"},
		{"rfc 7489 reason", "<type>local_policy</type>", "<type>sampled_out</type>", "reason type"},
		{"spf scope", "<scope>mfrom</scope>", "<scope>helo</scope>", "scope"},
		{"not xml", "<feedback", "<<feedback", "xml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(s, c.old) {
				t.Fatalf("sample lacks %q", c.old)
			}
			m := strings.Replace(s, c.old, c.new, 1)
			errs := Lint([]byte(m))
			for _, e := range errs {
				if strings.Contains(e.Error(), c.want) {
					return
				}
			}
			t.Errorf("no problem mentioning %q; got %v", c.want, errs)
		})
	}
	t.Run("duplicate record", func(t *testing.T) {
		i := strings.Index(s, " <record>")
		j := strings.Index(s[i:], " </record>\n") + i + len(" </record>\n")
		m := s[:j] + s[i:j] + s[j:]
		if errs := Lint([]byte(m)); len(errs) != 1 || !strings.Contains(errs[0].Error(), "repeats") {
			t.Errorf("got %v, want one 'repeats' problem", errs)
		}
	})
}

// TestXSDRejects proves the xmllint check can fail: a report without the
// namespace and one with RFC 7489's pct do not validate.
func TestXSDRejects(t *testing.T) {
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		validateXSD(t, nil) // skips, or fails under AUTHMILTER_E2E=1
		return
	}
	s := readSample(t)
	for _, m := range []string{
		strings.Replace(s, ` xmlns="urn:ietf:params:xml:ns:dmarc-2.0"`, "", 1),
		strings.Replace(s, "<testing>n</testing>", "<testing>n</testing><pct>100</pct>", 1),
		strings.Replace(s, "<disposition>pass</disposition>", "<disposition>softfail</disposition>", 1),
	} {
		f := filepath.Join(t.TempDir(), "r.xml")
		if err := os.WriteFile(f, []byte(m), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "--noout", "--nonet", "--schema", xsdPath, f).CombinedOutput(); err == nil {
			t.Errorf("xmllint accepted an invalid report:\n%s", out)
		}
	}
}
