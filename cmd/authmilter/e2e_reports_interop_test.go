package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// mailDMARCReceive runs Mail::DMARC's receiver (libmail-dmarc-perl) over
// one delivered report mail, as an operator's "dmarc_receive --file"
// would: it reads the Subject, finds the application/gzip part by its
// filename, unpacks it and parses the XML (its store write replaced by
// keeping the parsed report). Mail::DMARC 1.20211209 parses DMARC 1.0
// only: on the RFC 9990 namespace its XPath finds nothing and it dies, so
// the XML it is handed has the root's default namespace declaration
// removed, nothing else. It prints the Report-ID it took from the Subject,
// the submitter and report domain, the XML's report_id and policy domain,
// and one line per record.
const mailDMARCReceive = `
use strict; use warnings;
use Mail::DMARC::Report::Receive;
no warnings 'redefine';
*Mail::DMARC::Report::save_aggregate = sub { return $_[0]->aggregate };
my $handle = \&Mail::DMARC::Report::Receive::handle_body;
*Mail::DMARC::Report::Receive::handle_body = sub {
  my ($self, $xml) = @_;
  $xml =~ s/ xmlns="urn:ietf:params:xml:ns:dmarc-2.0"// or die "no dmarc-2.0 namespace declaration\n";
  return $handle->($self, $xml);
};
my $r = Mail::DMARC::Report::Receive->new;
my $type = $r->from_file($ARGV[0]) // '';
my $agg = $r->report->aggregate;
printf "MD report\t%s\t%s\t%s\t%s\t%s\t%s\n", $type, $agg->metadata->uuid // '', $r->{_envelope_to} // '',
  $r->{_header_from} // '', $agg->metadata->report_id // '', $agg->policy_published->domain // '';
for my $rec (@{ $agg->record }) {
  printf "MD row\t%s/%s\t%d\n", $rec->row->source_ip, $rec->row->policy_evaluated->disposition, $rec->row->count;
}
`

// TestEndToEndReportsInterop: the aggregate report sent through real
// Postfix to the mailbox, as delivered, is read by two consumers that are
// not ours. python3-xmlschema validates its XML against the RFC 9990
// schema, and Mail::DMARC's receiver takes the mail apart (Subject,
// MIME, gzip, filename, XML) and finds the Report-ID of the Subject and
// the XML, the submitter receiver.test, the policy domain pass.test and
// the rows we wrote, counts included (RFC 9990's disposition pass reads as
// none there: DMARC 1.0 had no pass).
func TestEndToEndReportsInterop(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	xsdBin, xsdErr := exec.LookPath("xmlschema-validate")
	perlOK := exec.Command("perl", "-MMail::DMARC::Report::Receive", "-e1").Run() == nil
	if xsdErr != nil || !perlOK {
		if os.Getenv("AUTHMILTER_E2E") == "1" {
			t.Fatal("python3-xmlschema or libmail-dmarc-perl not installed (.ci/install-mtas.sh); required with AUTHMILTER_E2E=1")
		}
		t.Skip("python3-xmlschema or libmail-dmarc-perl not installed")
	}
	t.Parallel()
	zone, keyFile := sendZone(t)
	srv, err := dnstest.Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	d := startDaemon(t, srv.Addr, sendConfig(dir, "", keyFile, ""))
	m := startPostfix(t, d.Addr)
	sendMix(t, m, "i")
	flushReports(t, d)
	conf := writeConf(t, sendConfig(dir, m.Addr, keyFile, ""), srv.Addr)
	reportsCLI(t, conf, "send", "-now", time.Now().Add(25*time.Hour).Format(time.RFC3339))
	r := waitReports(t, m, 1)[0]
	d.Stop(t)

	tmp := t.TempDir()
	xmlFile, mailFile := filepath.Join(tmp, "report.xml"), filepath.Join(tmp, "report.eml")
	if err := os.WriteFile(xmlFile, r.xml, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mailFile, []byte(r.raw), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xsdBin, "--schema", "../../auth/report/testdata/dmarc-rfc9990/rfc9990-dmarc-2.0.xsd", xmlFile).CombinedOutput(); err != nil {
		t.Errorf("xmlschema-validate: %v\n%s", err, out)
	}

	out, err := exec.Command("perl", "-e", mailDMARCReceive, mailFile).CombinedOutput()
	if err != nil {
		t.Fatalf("Mail::DMARC: %v\n%s", err, out)
	}
	var report []string
	var rows []string
	for _, l := range strings.Split(string(out), "\n") {
		switch f := strings.Split(l, "\t"); f[0] {
		case "MD report":
			report = f[1:]
		case "MD row":
			rows = append(rows, f[1]+":"+f[2])
		}
	}
	t.Logf("Mail::DMARC read %q, rows %q", report, rows)
	id := r.subject[strings.LastIndex(r.subject, " ")+1:]
	if want := []string{"aggregate", id, "receiver.test", "pass.test", id, "pass.test"}; strings.Join(report, " ") != strings.Join(want, " ") {
		t.Errorf("Mail::DMARC read (type, Subject Report-ID, submitter, report domain, report_id, policy domain) %q, want %q\n%s", report, want, out)
	}
	var want []string
	for _, x := range r.fb.Records {
		disp := x.Disposition
		if disp == "pass" {
			disp = "none"
		}
		want = append(want, fmt.Sprintf("%s/%s:%d", x.IP, disp, x.Count))
	}
	sort.Strings(rows)
	sort.Strings(want)
	if strings.Join(rows, " ") != strings.Join(want, " ") || len(rows) != 3 {
		t.Errorf("Mail::DMARC rows %q, we wrote %q", rows, want)
	}
}
