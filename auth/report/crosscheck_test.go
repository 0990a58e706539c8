package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Cross-checks with two consumers independent of our code, both Debian
// packages: python3-xmlschema validates every report against the RFC 9990
// schema (a second validator beside xmllint), and Mail::DMARC
// (libmail-dmarc-perl) parses every report and must see the rows and
// counts we wrote. The reports are the golden files, the RFC's sample and
// the reports of randomReports.

// needTool returns the path of the command name from Debian package pkg.
// Without it the test is skipped, unless AUTHMILTER_E2E=1 makes it
// mandatory.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		missingTool(t, name, pkg)
	}
	return bin
}

func missingTool(t *testing.T, name, pkg string) {
	t.Helper()
	if os.Getenv("AUTHMILTER_E2E") == "1" {
		t.Fatalf("%s not installed (apt-get install %s); required with AUTHMILTER_E2E=1", name, pkg)
	}
	t.Skipf("%s not installed (Debian %s); cross-check skipped", name, pkg)
}

// crossReports writes every report to check into a temporary directory
// and returns the paths. The random reports' total count is events.
func crossReports(t *testing.T) (paths []string, random []string, events int) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	if err != nil || len(paths) < 10 {
		t.Fatalf("golden files: %v %v", paths, err)
	}
	paths = append(paths, filepath.Join("testdata", "dmarc-rfc9990", "sample-report.xml"))
	rs, events := randomReports(t)
	dir := t.TempDir()
	for i, r := range rs {
		p := filepath.Join(dir, fmt.Sprintf("random-%d.xml", i))
		if err := os.WriteFile(p, r.XML(), 0o600); err != nil {
			t.Fatal(err)
		}
		random = append(random, p)
	}
	return append(paths, random...), random, events
}

// TestCrossCheckXMLSchema validates every report with python3-xmlschema's
// xmlschema-validate, and proves the validator can fail: a report without
// the namespace and one with RFC 7489's pct are not valid.
func TestCrossCheckXMLSchema(t *testing.T) {
	bin := needTool(t, "xmlschema-validate", "python3-xmlschema")
	good, _, _ := crossReports(t)
	sample, err := os.ReadFile(good[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var bad []string
	for i, m := range [][2]string{
		{` xmlns="urn:ietf:params:xml:ns:dmarc-2.0"`, ""},
		{"<testing>n</testing>", "<testing>n</testing><pct>100</pct>"},
	} {
		if !bytes.Contains(sample, []byte(m[0])) {
			t.Fatalf("%s lacks %q", good[0], m[0])
		}
		p := filepath.Join(dir, fmt.Sprintf("bad-%d.xml", i))
		if err := os.WriteFile(p, bytes.Replace(sample, []byte(m[0]), []byte(m[1]), 1), 0o600); err != nil {
			t.Fatal(err)
		}
		bad = append(bad, p)
	}
	args := append([]string{"--schema", xsdPath}, good...)
	out, err := exec.Command(bin, append(args, bad...)...).CombinedOutput()
	// The exit status counts the invalid files: the two bad ones.
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != len(bad)) {
		t.Errorf("xmlschema-validate: %v", err)
	}
	for _, f := range good {
		if !bytes.Contains(out, []byte(f+" is valid\n")) {
			t.Errorf("%s: not valid for python3-xmlschema", f)
		}
	}
	for _, f := range bad {
		if !bytes.Contains(out, []byte(f+" is not valid\n")) {
			t.Errorf("%s: python3-xmlschema did not reject it", f)
		}
	}
	if t.Failed() {
		t.Logf("xmlschema-validate output:\n%s", out)
	}
}

// mailDMARCParse runs each file through Mail::DMARC's own aggregate report
// parser (Mail::DMARC::Report::Receive::handle_body, its store write
// replaced by returning the parsed report) and prints what it saw.
//
// Mail::DMARC 1.20211209 (Debian 12) knows the DMARC 1.0 format only: its
// XPath expressions name unqualified elements, so on a document in the
// RFC 9990 namespace it finds no report_metadata and dies. It is first
// given the document as is; when that fails or finds no record, it is
// given the same bytes with the root element's default namespace
// declaration removed and nothing else changed — which is what a 1.0
// consumer ignoring namespaces reads. The output says which was used.
const mailDMARCParse = `
use strict; use warnings;
use Mail::DMARC::Report::Receive;
no warnings 'redefine';
*Mail::DMARC::Report::save_aggregate = sub { return $_[0]->aggregate };
print "version\t$Mail::DMARC::Report::Receive::VERSION\n";
sub parse { my $agg = eval { Mail::DMARC::Report::Receive->new->handle_body($_[0]) }; (my $e = $@ // '') =~ s/\s+/ /g; return ($agg, $e) }
for my $f (@ARGV) {
  my $xml = do { local $/; open my $fh, '<', $f or die "$f: $!"; <$fh> };
  my ($agg, $err) = parse($xml);
  my $mode = 'as-is';
  if (!$agg || !@{ $agg->record }) {
    my $why = $agg ? 'no records' : "died: $err";
    (my $x = $xml) =~ s/ xmlns="urn:ietf:params:xml:ns:dmarc-2.0"//;
    ($agg, $err) = parse($x);
    $mode = "namespace removed (as-is: $why)";
  }
  if (!$agg) { print "error\t$f\t$err\n"; next }
  printf "file\t%s\t%s\t%s\t%s\n", $f, $agg->metadata->report_id, $agg->policy_published->domain // '', $mode;
  for my $r (@{ $agg->record }) {
    my $pe = $r->row->policy_evaluated;
    printf "row\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", $r->row->source_ip, $r->row->count,
      $pe->disposition, $pe->dkim, $pe->spf, $r->identifiers->header_from,
      scalar @{ $r->auth_results->dkim || [] }, scalar @{ $r->auth_results->spf || [] },
      scalar @{ $pe->reason || [] };
  }
}
`

// rowLine is one record as the Mail::DMARC script prints it. RFC 9990's
// disposition "pass" (no action, DMARC passed under an enforcing policy)
// is not in DMARC 1.0; Mail::DMARC reads any disposition it does not know
// as "none", as it says on purpose.
func rowLine(r xRecord) string {
	d := r.Disposition
	if d == string(DispositionPass) {
		d = string(DispositionNone)
	}
	return strings.Join([]string{"row", r.SourceIP, r.Count, d, r.DKIM, r.SPF, r.HeaderFrom,
		strconv.Itoa(len(r.AuthDKIM)), strconv.Itoa(len(r.AuthSPF)), strconv.Itoa(len(r.Reasons))}, "\t")
}

// TestCrossCheckMailDMARC parses every report with Mail::DMARC and
// compares, file by file, the Report-ID, the policy domain and each row
// (source IP, count, disposition, DKIM and SPF alignment, header_from, the
// number of DKIM results, SPF results and reasons) with our own decoding
// of the same bytes; the random reports' counts must add up to the
// events they were built from.
func TestCrossCheckMailDMARC(t *testing.T) {
	perl := needTool(t, "perl", "perl")
	if err := exec.Command(perl, "-MMail::DMARC::Report::Receive", "-e1").Run(); err != nil {
		missingTool(t, "Mail::DMARC", "libmail-dmarc-perl")
	}
	paths, random, events := crossReports(t)
	out, err := exec.Command(perl, append([]string{"-e", mailDMARCParse}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("perl: %v\n%s", err, out)
	}
	got := map[string][]string{} // file → its lines
	var cur string
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		f := strings.Split(l, "\t")
		switch f[0] {
		case "version":
			t.Logf("Mail::DMARC %s", f[1])
		case "file":
			cur = f[1]
			got[cur] = append(got[cur], strings.Join(f[:4], "\t"))
			if cur == paths[0] {
				t.Logf("Mail::DMARC parsed %s: %s", cur, f[4])
			}
		case "row":
			got[cur] = append(got[cur], l)
		default:
			t.Errorf("Mail::DMARC: %s", l)
		}
	}
	isRandom := map[string]bool{}
	for _, p := range random {
		isRandom[p] = true
	}
	var randomTotal int64
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var fb xFeedback
		if err := xml.Unmarshal(b, &fb); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		want := []string{strings.Join([]string{"file", p, fb.Meta.ReportID, fb.Policy.Domain}, "\t")}
		for _, r := range fb.Records {
			want = append(want, rowLine(r))
		}
		for _, l := range got[p] {
			if f := strings.Split(l, "\t"); isRandom[p] && f[0] == "row" {
				n, _ := strconv.ParseInt(f[2], 10, 64)
				randomTotal += n
			}
		}
		if g := got[p]; strings.Join(g, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: Mail::DMARC saw\n%s\nwe wrote\n%s", p, strings.Join(g, "\n"), strings.Join(want, "\n"))
		}
	}
	if randomTotal != int64(events) {
		t.Errorf("random reports count %d messages for Mail::DMARC, want %d", randomTotal, events)
	}
}
