package main

// End-to-end test with every feature on at once in one daemon: DKIM
// signing on a signing listener, ARC verification with a trusted sealer
// and sealing, S/MIME and OpenPGP verification, inbound TLS recording and
// a [[tls.require]] rule, DMARC aggregate and failure reports, JSON logs;
// all through one real Postfix offering STARTTLS.

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/arc"
	ourdkim "github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/mtasts/mtaststest"
)

// allWorld is the DNS, keys and files of TestEndToEndAll.
type allWorld struct {
	dns   *dnstest.Server
	zone  string
	txt   map[string]string // key records by name, for dkimpy and opendkim
	pass  *e2eWorld         // pass.test's DKIM key (signedMessage)
	arc   *arcE2E           // the list and our seal key (listMessage)
	sign  *signWorld        // sign.test's keys (verifySigned)
	dir   string
	files map[string]string // key and trust files by role
}

func newAllWorld(t *testing.T) *allWorld {
	t.Helper()
	w := &allWorld{dir: t.TempDir(), txt: map[string]string{}, files: map[string]string{}}
	passKey, _ := rsaKeyFile(t, w.dir, "pass.pem")
	list, listPEM := rsaKeyFile(t, w.dir, "list.pem")
	seal, sealPEM := rsaKeyFile(t, w.dir, "seal.pem")
	// The key a reload switches to. RSA: dkimpy's ARC knows no
	// ed25519-sha256 ("unknown signature algorithm").
	seal2, seal2PEM := rsaKeyFile(t, w.dir, "seal2.pem")
	w.files["seal2"] = seal2PEM
	author, _ := rsaKeyFile(t, w.dir, "author.pem")
	signRSA, _ := rsaKeyFile(t, w.dir, "sign-rsa.pem")
	_, signEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(signEd)
	edFile := filepath.Join(w.dir, "sign-ed.pem")
	os.WriteFile(edFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	w.files["seal"], w.files["sign-rsa"], w.files["sign-ed"] = sealPEM, filepath.Join(w.dir, "sign-rsa.pem"), edFile
	zone, reportKey := sendZone(t) // pass.test, spoof.test, receiver.test (reports), client.test
	w.files["report"] = reportKey
	// pass.test from sendZone has no DKIM key: ours is added below.
	zone += failureE2EZone + `
reject.test.         TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.reject.test.  TXT "v=DMARC1; p=reject; rua=mailto:dmarc@rcpt.test; ruf=mailto:ruf@rcpt.test"
reject.test._report._dmarc.rcpt.test. TXT "v=DMARC1"
lists.test.          TXT "v=spf1 ip4:127.0.0.0/8 -all"
quarantine.test.     TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.quarantine.test. TXT "v=DMARC1; p=quarantine"
req.test.            TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.req.test.     TXT "v=DMARC1; p=none"
client.test.         TXT "v=spf1 ip4:127.0.0.0/8 -all"
`
	for name, k := range map[string]crypto.Signer{
		"sel._domainkey.pass.test": passKey, "arc._domainkey.lists.test": list,
		"seal._domainkey.mx.authmilter.test": seal, "seal2._domainkey.mx.authmilter.test": seal2,
		"sel._domainkey.reject.test": author,
		"rsa1._domainkey.sign.test":  signRSA, "ed1._domainkey.sign.test": signEd,
	} {
		rec, err := ourdkim.KeyRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		w.txt[name] = rec
		zone += name + ". TXT " + strings.Join(txtStrings(rec), " ") + "\n"
	}
	w.zone = zone
	if w.dns, err = dnstest.Start(zone); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.dns.Close)
	w.pass = &e2eWorld{dns: w.dns, key: passKey}
	w.arc = &arcE2E{dns: w.dns, txt: w.txt, listPEM: listPEM, sealPEM: sealPEM, author: author}
	w.sign = &signWorld{dns: w.dns, zone: zone, records: w.txt, dir: w.dir}
	return w
}

// config is the one configuration with everything on; relay is the
// Postfix the reports go through.
func (w *allWorld) config(relay string) string {
	return fmt.Sprintf(`authserv_id = %q
trusted_networks = []
[log]
format = "json"
level = "debug" # every line is checked for duplicate keys
[policy]
quarantine_mode = "header"
list_id_quarantines = false
[limits]
evaluation_timeout = "10s"
[dkim]
sign_daemons = ["ORIGINATING"]
[[dkim.sign]]
domain = "sign.test"
selector = "rsa1"
key = %q
[[dkim.sign]]
domain = "sign.test"
selector = "ed1"
key = %q
[arc]
trusted_sealers = ["lists.test"]
[arc.seal]
domain = "mx.authmilter.test"
selector = "seal"
key = %q
[smime]
ca_file = %q
[openpgp]
keyring = [%q]
[[tls.require]]
domain = "req.test"
[reports]
enabled = true
store = "sqlite:%s/reports.db"
spool = "%s/reports.spool"
org_name = "Receiver Test"
email = "dmarc@receiver.test"
flush_interval = "1h"
send_interval = "0s"
smtp = %q
dkim_key = %q
dkim_selector = "rep"
failure_enabled = true
report_when = "any" # the list's domain had its message quarantined only
`, e2eAuthservID, w.files["sign-rsa"], w.files["sign-ed"], w.files["seal"],
		filepath.Join(w.dir, "ca.pem"), filepath.Join(w.dir, "keyring.asc"),
		w.dir, w.dir, relay, w.files["report"])
}

// TestEndToEndAll: one daemon with every feature on, one Postfix with
// STARTTLS and a signing listener.
func TestEndToEndAll(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	if err := exec.Command(dkimpyPython, "-c", "import dkim, authres").Run(); err != nil {
		t.Skip("dkimpy's ARC needs python3-dkim and python3-authres: ", err)
	}
	t.Parallel()
	w := newAllWorld(t)
	smimeSig := smimeMaterial(t, w.dir)
	pgpMaterial(t, w.dir)

	root := worldDir(t)
	ca := mtaststest.NewCA(t)
	_, srvCert, srvKey := ca.Issue(t, "mx.authmilter.test")
	files := &mtaTLS{Cert: filepath.Join(root, "tls", "srv.crt"), Key: filepath.Join(root, "tls", "srv.key"), CA: filepath.Join(root, "tls", "ca.crt")}
	os.MkdirAll(filepath.Join(root, "tls"), 0o755)
	for name, b := range map[string][]byte{files.Cert: srvCert, files.Key: srvKey, files.CA: ca.CertPEM} {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(files.Key, 0o600)

	port, subPort := freePort(t), freePort(t)
	m := startPostfixWith(t, fmt.Sprintf("127.0.0.1:%d", port), mtaOptions{TLS: files,
		MasterCF: fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd -o milter_macro_daemon_name=ORIGINATING\n", subPort)})
	conf := w.config(m.Addr)
	metricsPort := freePort(t)
	d := startDaemonAt(t, port, w.dns.Addr, conf+fmt.Sprintf("[metrics]\nlisten = \"127.0.0.1:%d\"\n", metricsPort))
	sub := &mta{Name: "postfix submission", Addr: fmt.Sprintf("127.0.0.1:%d", subPort), mailDir: m.mailDir, logf: m.logf}

	smimeCase := func(t *testing.T, m *mta, tag string) {
		mid := "<" + tag + "." + m.Name + ".all@pass.test>"
		msg := signedMessage(t, w.pass, mid, "application/pkcs7-signature", "sha-256",
			"application/pkcs7-signature; name=smime.p7s", "base64", smimeSig,
			"Authentication-Results: "+e2eAuthservID+"; smime=pass body.smime-identifier=mallory@pass.test")
		if r := sendWith(t, m, ca.Pool(), tlsClient{startTLS: true}, "bounce@pass.test", msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("reply %q, want 250", r)
		}
		got := m.Delivered(t, mid)
		requireOrder(t, got, "ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results", "A-R", "A-R")
		fields := ourFieldBytes(got)
		if len(fields) != 2 {
			t.Fatalf("%d A-R fields of ours, want 2:\n%s", len(fields), got)
		}
		want := strings.TrimSuffix(passAR(headerB(t, msg)), "x-tls=none\n") + "arc=none smtp.remote-ip=127.0.0.1;\n\t"
		// Sendmail says {verify}=NO: "(no client certificate)".
		tlsRe := regexp.MustCompile(`^x-tls=pass (\(no client certificate\) )?smtp\.version=TLSv1\.3 smtp\.cipher=TLS_[A-Z0-9_]+ smtp\.bits=(128|256)$`)
		if rest, ok := strings.CutPrefix(fields[0], want); !ok || !tlsRe.MatchString(strings.Join(strings.Fields(rest), " ")) {
			t.Errorf("our A-R as delivered:\n%q\nwant\n%q + x-tls=pass ...", fields[0], want)
		}
		mustBytes(t, "signature A-R", fields[1:], "Authentication-Results: "+e2eAuthservID+";\n"+
			"\tsmime=pass body.smime-identifier=alice@pass.test body.smime-part=TEXT\n"+
			"\tbody.smime-serial=1234ABCD body.smime-issuer=\"CN=E2E S-MIME CA\"\n", got)
		checkOurSet(t, w, got, 1, "none")
	}
	t.Run("a: S/MIME over TLS, sealed cv=none", func(t *testing.T) { smimeCase(t, m, "a1") })

	listCase := func(t *testing.T, m *mta) {
		marker := "all-list-" + m.Name
		if r := dialSMTP(t, m, "127.0.0.1", "client.test").Send(t, "bounce@lists.test", "u@rcpt.test", w.arc.listMessage(t, marker)); !strings.HasPrefix(r, "250") {
			t.Fatalf("reply %q, want 250 (quarantined by header)", r)
		}
		got := m.Delivered(t, marker+"@reject.test")
		requireOrder(t, got, "ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results", "X-Authmilter-Quarantine", "A-R")
		mustBytes(t, "quarantine field", fieldBytes(got, "X-Authmilter-Quarantine"),
			"X-Authmilter-Quarantine: yes (dmarc fail, policy reject, quarantined: trusted ARC sealer lists.test)\n", got)
		ar := ours(got)
		if len(ar) != 1 || !strings.Contains(ar[0], "dmarc=fail (overridden: trusted ARC sealer lists.test)") ||
			!strings.Contains(ar[0], "arc=pass") || !strings.Contains(ar[0], "x-tls=none") {
			t.Errorf("our A-R %q", ar)
		}
		checkOurSet(t, w, got, 2, "pass")
	}
	t.Run("b: trusted sealer, quarantined, sealed cv=pass", func(t *testing.T) { listCase(t, m) })

	t.Run("S/MIME, quarantined, sealed: every field of ours at once", func(t *testing.T) {
		// quarantine.test (p=quarantine) does not list 127.0.0.1 and the
		// message has no DKIM signature: DMARC fails.
		mid := "<q.all@quarantine.test>"
		msg := message([]string{"From: Alice <alice@quarantine.test>", "To: u@rcpt.test", "Subject: signed",
			"Message-ID: " + mid, "Date: Mon, 07 Dec 2026 10:00:00 +0000", "MIME-Version: 1.0",
			"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256;\n boundary=\"sig-b\""},
			"This is a signed message.\n--sig-b\n"+strings.ReplaceAll(signedPart, "\r\n", "\n")+"\n--sig-b\n"+
				"Content-Type: application/pkcs7-signature; name=smime.p7s\nContent-Transfer-Encoding: base64\n\n"+
				strings.ReplaceAll(smimeSig, "\r\n", "\n")+"\n--sig-b--\n")
		if r := sendWith(t, m, ca.Pool(), tlsClient{startTLS: true}, "bounce@quarantine.test", msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("reply %q, want 250", r)
		}
		got := m.Delivered(t, mid)
		requireOrder(t, got, "ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results", "X-Authmilter-Quarantine", "A-R", "A-R")
		mustBytes(t, "quarantine field", fieldBytes(got, "X-Authmilter-Quarantine"),
			"X-Authmilter-Quarantine: yes (dmarc fail, policy quarantine)\n", got)
		if f := ourFieldBytes(got); len(f) != 2 || !strings.Contains(f[0], "dmarc=fail") || !strings.Contains(f[1], "smime=") {
			t.Errorf("our A-R fields %q", f)
		}
		checkOurSet(t, w, got, 1, "none")
	})

	t.Run("c: signing listener, signed, not evaluated", func(t *testing.T) {
		mid := "<sub.all@e2e.test>"
		msg := message([]string{"From: bob@sign.test", "To: u@elsewhere.test", "Subject: via submission",
			"Date: Mon, 07 Dec 2026 10:00:00 +0000", "Message-ID: " + mid}, "Sent on the submission port.\n")
		got := sendSigned(t, dialSMTP(t, sub, "127.0.0.1", "client.test"), m, "bob@sign.test", msg, mid)
		verifySigned(t, w.sign, got, "sign.test", []string{"rsa1", "ed1"})
		for _, f := range []string{"Authentication-Results", "ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results", "X-Authmilter-Quarantine"} {
			if h := headerFields(got, f); len(h) != 0 {
				t.Errorf("a signing client's message got %s: %q", f, h)
			}
		}
	})

	t.Run("tls.require", func(t *testing.T) {
		msg := message([]string{"From: a@req.test", "To: u@rcpt.test", "Subject: req", "Message-ID: <req.all@req.test>"}, "Hi.\n")
		if r := sendWith(t, m, ca.Pool(), tlsClient{}, "a@req.test", msg); !strings.HasPrefix(r, "450 4.7.1") {
			t.Errorf("plaintext from req.test: reply %q, want 450 4.7.1", r)
		}
	})

	t.Run("d: DMARC fail with ruf, rejected, failure report", func(t *testing.T) {
		h := []string{"From: Zq Author <zqauthor.x@fail.test>", "To: u@rcpt.test", "Subject: f",
			"Message-ID: <fail.all@fail.test>"}
		if r := dialSMTP(t, m, "127.0.0.2", "client.test").Send(t, "zqenvsender.z@fail.test", "u@rcpt.test", message(h, "Secret.\n")); !strings.HasPrefix(r, "550") {
			t.Fatalf("reply %q, want 550", r)
		}
		raw := m.Delivered(t, "Reported-Domain: fail.test")
		fb, _ := parseAFRF(t, []byte(raw))
		if fb.Get("Reported-Domain") != "fail.test" || fb.Get("Source-IP") != "127.0.0.2" {
			t.Errorf("feedback fields %v", fb)
		}
		ar := ours(raw)
		if len(ar) != 1 || !strings.Contains(ar[0], "dkim=pass") || !strings.Contains(ar[0], "header.d=receiver.test") {
			t.Errorf("the failure report's A-R %q", ar)
		}
	})

	t.Run("reload, then again", func(t *testing.T) {
		flushReports(t, d) // SIGHUP: counts written, configuration reloaded
		smimeCase(t, m, "a2")
	})

	t.Run("e: aggregate report", func(t *testing.T) {
		flushReports(t, d)
		cli := writeConf(t, conf, w.dns.Addr)
		out := reportsCLI(t, cli, "send", "-now", time.Now().Add(25*time.Hour).Format(time.RFC3339))
		if !strings.Contains(out, "deliveries: sent 2,") {
			t.Errorf("reports send:\n%s", out)
		}
		c := counts(waitReports(t, m, 2))
		if s := sortedCounts(c["pass.test"]); s != "127.0.0.1/pass:2" {
			t.Errorf("pass.test counts %s, want 127.0.0.1/pass:2", s)
		}
		// The list's message: quarantined for the trusted sealer.
		if s := sortedCounts(c["reject.test"]); s != "127.0.0.1/quarantine/trusted_forwarder:1" {
			t.Errorf("reject.test counts %s, want 127.0.0.1/quarantine/trusted_forwarder:1", s)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		ex := scrape(t, metricsPort)
		for name, want := range map[string]string{
			`authmilter_skipped_total{reason="signing client"}`:                   "1",
			`authmilter_messages_total{action="accept"}`:                          "6", // a1, a2, 2 failure and 2 aggregate reports
			`authmilter_messages_total{action="quarantine"}`:                      "2",
			`authmilter_messages_total{action="reject"}`:                          "1",
			`authmilter_messages_total{action="tempfail"}`:                        "1",
			`authmilter_config_reloads_total{result="applied"}`:                   "2",
			`authmilter_dmarc_failure_reports_total{result="sent"}`:               "2",
			`authmilter_dmarc_failure_reports_total{result="dropped_queue_full"}`: "0",
		} {
			if v := metricValue(t, ex, name); v != want {
				t.Errorf("%s = %q, want %s", name, v, want)
			}
		}
	})

	// The same daemon behind a Sendmail with STARTTLS.
	sm := startSendmailWith(t, d.Addr, mtaOptions{TLS: files})
	t.Run("sendmail/a", func(t *testing.T) { smimeCase(t, sm, "a3") })
	t.Run("sendmail/b", func(t *testing.T) { listCase(t, sm) })

	// A reload that changes the ARC keys at once: no trusted sealer any
	// more, another seal selector and key.
	t.Run("reload with changes", func(t *testing.T) {
		file := d.cmd.Args[2]
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		changed := strings.Replace(string(b), `trusted_sealers = ["lists.test"]`, `trusted_sealers = []`, 1)
		changed = strings.Replace(changed, `selector = "seal"`, `selector = "seal2"`, 1)
		changed = strings.Replace(changed, w.files["seal"], w.files["seal2"], 1)
		if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
		flushReports(t, d)
		logHas(t, d, `"msg":"configuration reloaded"`, `"arc.trusted_sealers"`, `"arc.seal.selector"`, `"arc.seal.key"`)
		if r := dialSMTP(t, m, "127.0.0.1", "client.test").Send(t, "bounce@lists.test", "u@rcpt.test", w.arc.listMessage(t, "all-list-reloaded")); !strings.HasPrefix(r, "550") {
			t.Errorf("list message after the reload: reply %q, want 550 (lists.test no longer trusted)", r)
		}
		mid := "<reloaded.all@pass.test>"
		msg := signedMessage(t, w.pass, mid, "application/pkcs7-signature", "sha-256",
			"application/pkcs7-signature; name=smime.p7s", "base64", smimeSig)
		if r := sendWith(t, m, ca.Pool(), tlsClient{startTLS: true}, "bounce@pass.test", msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("reply %q, want 250", r)
		}
		got := m.Delivered(t, mid)
		if s := headerFields(got, "ARC-Seal"); len(s) != 1 || !strings.Contains(s[0], "s=seal2") {
			t.Errorf("ARC-Seal after the reload %q, want s=seal2", s)
		}
		requireOrder(t, got, "ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results", "A-R", "A-R")
		checkOurSet(t, w, got, 1, "none")
	})

	t.Run("log lines", func(t *testing.T) { checkJSONLog(t, d.log.String()) })
}

// checkOurSet checks our ARC set (instance i, cv) on a delivered message:
// one of each per instance, each field "Name: " and a value with no
// further leading space, the AAR is "i=N; " and our A-R, and dkimpy's
// arc_verify, our verifier and "check arc" pass the chain.
func checkOurSet(t *testing.T, w *allWorld, got string, i int, cv string) {
	t.Helper()
	for _, f := range []string{"ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"} {
		fs := fieldBytes(got, f)
		if len(fs) != i || !strings.HasPrefix(fs[0], f+": ") || fs[0][len(f)+2] == ' ' || fs[0][len(f)+2] == '\t' {
			t.Errorf("%s fields as delivered: %q", f, fs)
		}
	}
	if s := headerFields(got, "ARC-Seal"); len(s) == 0 || !strings.Contains(s[0], "cv="+cv) || !strings.Contains(s[0], "d=mx.authmilter.test") {
		t.Errorf("our ARC-Seal %q, want cv=%s", s, cv)
	}
	if aar, ar := headerFields(got, "ARC-Authentication-Results"), ours(got); len(aar) == 0 || len(ar) == 0 ||
		aar[0] != fmt.Sprintf("i=%d; %s", i, ar[0]) {
		t.Errorf("our AAR %q is not i=%d; + our A-R %q", aar, i, ar)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "delivered.eml")
	os.WriteFile(f, []byte(got), 0o644)
	txt, _ := json.Marshal(w.txt)
	tf := filepath.Join(dir, "txt.json")
	os.WriteFile(tf, txt, 0o644)
	if out := py(t, arcVerifyPy, f, tf); !strings.HasPrefix(out, "pass ") {
		t.Errorf("dkimpy arc_verify: %s", out)
	}
	r, err := dns.New(dns.Config{Servers: []string{w.dns.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	crlf := strings.ReplaceAll(strings.ReplaceAll(got, "\r\n", "\n"), "\n", "\r\n")
	if res, err := arc.Verify(context.Background(), arc.Options{Resolver: r}, strings.NewReader(crlf)); err != nil ||
		res.Result != arc.Pass || res.Instances != i || res.Sealers[0].Domain != "mx.authmilter.test" {
		t.Errorf("our verifier: %+v %v", res, err)
	}
	out, err := exec.Command(daemonBinary(t), "check", "arc", "-dns", w.dns.Addr, "-json", f).Output()
	var j arcJSON
	if err != nil || json.Unmarshal(out, &j) != nil || j.Result != "pass" || j.Instances != i {
		t.Errorf("check arc: %s %v", out, err)
	}
	if t.Failed() {
		t.Logf("delivered:\n%s", got)
	}
}

// requireOrder requires the fields we add to stand together, top first,
// in the given order ("A-R" is an Authentication-Results of ours), with
// no other field of these names anywhere above or between them.
func requireOrder(t *testing.T, msg string, want ...string) {
	t.Helper()
	var names []string
	head, _, _ := strings.Cut(strings.ReplaceAll(msg, "\r\n", "\n"), "\n\n")
	for _, line := range strings.Split(head, "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, v, _ := strings.Cut(line, ":")
		if strings.EqualFold(name, "Authentication-Results") {
			if id, _, _ := strings.Cut(v, ";"); strings.TrimSpace(id) == e2eAuthservID {
				name = "A-R"
			}
		}
		names = append(names, name)
	}
	start := -1
	for i, n := range names {
		if n == want[0] {
			start = i
			break
		}
	}
	if start < 0 || start+len(want) > len(names) || strings.Join(names[start:start+len(want)], ",") != strings.Join(want, ",") {
		t.Errorf("header field order %q, want %q together", names, want)
	}
}

// checkJSONLog parses every line of the daemon's JSON log and requires
// each object's keys to be unique.
func checkJSONLog(t *testing.T, log string) {
	t.Helper()
	n, lines, debug := 0, 0, 0
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		lines++
		if strings.Contains(line, `"level":"DEBUG"`) {
			debug++
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line not JSON: %v\n%s", err, line)
			continue
		}
		if m["msg"] == "message" {
			n++
		}
		if dup := duplicateKeys(json.NewDecoder(strings.NewReader(line))); len(dup) > 0 {
			t.Errorf("duplicate keys %q in log line\n%s", dup, line)
		}
	}
	t.Logf("%d log lines checked, %d at debug level", lines, debug)
	if n < 4 {
		t.Errorf("%d message log lines, want at least 4:\n%s", n, log)
	}
}

// duplicateKeys walks one JSON value's tokens and returns the keys that
// appear twice in one object.
func duplicateKeys(dec *json.Decoder) []string {
	var dup []string
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key := k.(string)
				if seen[key] {
					dup = append(dup, key)
				}
				seen[key] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk(); err != nil && err != io.EOF {
		dup = append(dup, "(unparsable: "+err.Error()+")")
	}
	return dup
}
