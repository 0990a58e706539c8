package main

// End-to-end test of the outbound TLS-policy service ([tls_policy]) with
// two private Postfix instances: tx (the sender, smtp_tls_policy_maps from
// contrib/postfix/tls_policy.cf pointing at our daemon) and rx (the
// receiver, STARTTLS with a certificate for mx1.example.test from a test
// CA). Our daemon resolves through dnstest (the AD bit for the DANE case)
// and fetches policies from an HTTPS server on 127.0.0.73:443; the test CA
// is trusted by the daemon through SSL_CERT_FILE and by tx through
// smtp_tls_CAfile only. tx runs in its own mount namespace whose
// /etc/resolv.conf names the same dnstest server, on 127.0.0.74:53 with
// "options trust-ad": Postfix looks up MX, A and TLSA records itself, and
// with smtp_dns_support_level = dnssec verifies DANE on the AD bit.

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/mtasts/mtaststest"
)

const tlsPolicyZone = `
example.test.            MX 10 mx1.example.test.
mx1.example.test.        A 127.0.0.1
mx.mismatch.test.        A 127.0.0.1
mx.testing.test.         A 127.0.0.1
mx.plain.test.           A 127.0.0.1
mx.dane.test.            A 127.0.0.1
_mta-sts.example.test.   TXT "v=STSv1; id=1"
mta-sts.example.test.    A 127.0.0.73
mismatch.test.           MX 10 mx.mismatch.test.
_mta-sts.mismatch.test.  TXT "v=STSv1; id=1"
mta-sts.mismatch.test.   A 127.0.0.73
elsewhere.test.          MX 10 mx1.example.test.
_mta-sts.elsewhere.test. TXT "v=STSv1; id=1"
mta-sts.elsewhere.test.  A 127.0.0.73
testing.test.            MX 10 mx.testing.test.
_mta-sts.testing.test.   TXT "v=STSv1; id=1"
mta-sts.testing.test.    A 127.0.0.73
dane.test.               MX 10 mx.dane.test.
_mta-sts.dane.test.      TXT "v=STSv1; id=1"
mta-sts.dane.test.       A 127.0.0.73
danebad.test.            MX 10 mx.danebad.test.
mx.danebad.test.         A 127.0.0.1
plain.test.              MX 10 mx.plain.test.
`

var tlsPolicyDomains = []string{"example.test", "mismatch.test", "elsewhere.test", "testing.test", "dane.test", "danebad.test", "plain.test"}

func TestE2ETLSPolicyPostfix(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	root := worldDir(t)
	ca := mtaststest.NewCA(t)
	_, rxCert, rxKey := ca.Issue(t, "mx1.example.test")
	caFile := filepath.Join(root, "ca.crt")
	for name, b := range map[string][]byte{"ca.crt": ca.CertPEM, "rx.crt": rxCert, "rx.key": rxKey} {
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	dnsSrv, err := dnstest.StartAt("127.0.0.74:53", tlsPolicyZone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dnsSrv.Close)
	block, _ := pem.Decode(rxCert)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	if err := dnsSrv.Add("_25._tcp.mx.dane.test. TLSA 3 1 1 " + hex.EncodeToString(spki[:])); err != nil {
		t.Fatal(err)
	}
	// danebad.test: validated TLSA records that match no certificate.
	if err := dnsSrv.Add("_25._tcp.mx.danebad.test. TLSA 3 1 1 " + strings.Repeat("ab", 32)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dane.test", "mx.dane.test", "_25._tcp.mx.dane.test", "danebad.test", "mx.danebad.test", "_25._tcp.mx.danebad.test"} {
		dnsSrv.AD(name)
	}

	https := mtaststest.StartServerAt(t, "127.0.0.73:443", ca, "example.test", "mismatch.test", "elsewhere.test", "testing.test", "dane.test")
	https.SetPolicy("example.test", "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 86400\n")
	https.SetPolicy("mismatch.test", "version: STSv1\nmode: enforce\nmx: mx.mismatch.test\nmax_age: 86400\n")
	https.SetPolicy("elsewhere.test", "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 86400\n")
	https.SetPolicy("testing.test", "version: STSv1\nmode: testing\nmx: mx.testing.test\nmax_age: 86400\n")
	// Were this enforced, rx's certificate (mx1.example.test) would fail it.
	https.SetPolicy("dane.test", "version: STSv1\nmode: enforce\nmx: mx.dane.test\nmax_age: 86400\n")

	policyPort := freePort(t)
	cache := filepath.Join(root, "tls-policy.json")
	daemonConf := fmt.Sprintf("[tls_policy]\nlisten = \"inet:127.0.0.1:%d\"\ncache_file = %q\n", policyPort, cache)
	t.Setenv("SSL_CERT_FILE", caFile) // the daemon trusts the test CA for policy fetches
	d := startDaemon(t, dnsSrv.Addr, daemonConf)
	waitPort(t, fmt.Sprintf("127.0.0.1:%d", policyPort), 10*time.Second)

	rx := startTLSReceiver(t, root)
	// Postfix asks for TLSA at _PORT._tcp.MX with its smtp_tcp_port (rx's
	// test port); the service looks at _25._tcp.MX, as for real MX hosts.
	_, rxPort, _ := strings.Cut(rx.Addr, "127.0.0.1:")
	for host, data := range map[string]string{"mx.dane.test": hex.EncodeToString(spki[:]), "mx.danebad.test": strings.Repeat("ab", 32)} {
		owner := "_" + rxPort + "._tcp." + host
		if err := dnsSrv.Add(owner + ". TLSA 3 1 1 " + data); err != nil {
			t.Fatal(err)
		}
		dnsSrv.AD(owner)
	}
	tx := startTLSSender(t, root, rx, policyPort, caFile, dnsSrv.Addr)

	send := func(rcpt string) {
		t.Helper()
		s := dialSMTP(t, tx, "127.0.0.1", "client.test")
		msg := fmt.Sprintf("From: a@sender.test\r\nTo: %s\r\nSubject: tls policy\r\nMessage-ID: <%s>\r\n\r\nbody %s\r\n", rcpt, rcpt, rcpt)
		if got := s.Send(t, "a@sender.test", rcpt, []byte(msg)); !strings.HasPrefix(got, "250") {
			t.Fatalf("tx refused %s: %s", rcpt, got)
		}
	}
	// outcome waits for tx's log line for rcpt and returns it.
	outcome := func(rcpt string) string {
		t.Helper()
		re := regexp.MustCompile(`(?m)^.*to=<` + regexp.QuoteMeta(rcpt) + `>.*status=(sent|deferred|bounced).*$`)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(tx.logf)
			if m := re.Find(b); m != nil {
				return string(m)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b, _ := os.ReadFile(tx.logf)
		t.Fatalf("no delivery status for %s after 30s; tx log:\n%s", rcpt, tail(string(b), 3000))
		return ""
	}
	txLog := func() string { b, _ := os.ReadFile(tx.logf); return string(b) }
	expect := func(rcpt, status string, logHas ...string) {
		t.Helper()
		before := len(txLog())
		send(rcpt)
		line := outcome(rcpt)
		t.Logf("%s: %s", rcpt, line[strings.Index(line, "to=<"):])
		if !strings.Contains(line, "status="+status) {
			t.Errorf("%s: want %s, got: %s", rcpt, status, line)
		}
		after := txLog()[before:]
		for _, s := range logHas {
			if !strings.Contains(after, s) {
				t.Errorf("%s: tx log lacks %q:\n%s", rcpt, s, tail(after, 2000))
			}
		}
	}

	// enforce + a certificate matching the policy's MX: verified TLS.
	expect("a1@example.test", "sent", "Verified TLS connection established to mx1.example.test")
	// enforce, the MX in the policy, but a certificate for another name.
	expect("a2@mismatch.test", "deferred", "Server certificate not verified")
	// enforce, the MX (mx1.example.test) not covered by the policy's *.elsewhere.test.
	expect("a3@elsewhere.test", "deferred", "Server certificate not verified")
	// testing: no enforcement, delivered with opportunistic TLS.
	expect("a4@testing.test", "sent", "TLS connection established to mx.testing.test")
	// no MTA-STS, no DANE: NOTFOUND, Postfix's own level (may).
	expect("a5@plain.test", "sent", "TLS connection established to mx.plain.test")
	// DANE (validated MX and TLSA) wins over MTA-STS: dane-only, and
	// Postfix verifies the TLSA record itself (DANE-EE: the key, not the
	// name, so the MTA-STS policy dane.test also has would have failed).
	expect("a6@dane.test", "sent", "Verified TLS connection established to mx.dane.test")
	// Validated TLSA records that match nothing: deferred, not downgraded.
	expect("a7@danebad.test", "deferred", "Server certificate not verified")
	for _, want := range []string{
		`key=example.test kind=sts-enforce answer="OK secure match=mx1.example.test servername=hostname"`,
		`key=mismatch.test kind=sts-enforce`,
		`key=elsewhere.test kind=sts-enforce answer="OK secure match=.elsewhere.test servername=hostname"`,
		`key=testing.test kind=sts-testing answer="NOTFOUND "`,
		`key=plain.test kind=none`,
		`key=dane.test kind=dane-only answer="OK dane-only"`,
		`key=danebad.test kind=dane-only answer="OK dane-only"`,
	} {
		if !strings.Contains(d.log.String(), want) {
			t.Errorf("daemon log lacks %s", want)
		}
	}

	// Restart the service with the HTTPS server down and a new record id
	// (a fetch is tried, fails): the cached enforce policies still hold.
	d.Stop(t)
	https.Close()
	dnsSrv.Remove("_mta-sts.example.test", 0)
	dnsSrv.Add(`_mta-sts.example.test. TXT "v=STSv1; id=2"`)
	d2 := startDaemon(t, dnsSrv.Addr, daemonConf)
	waitPort(t, fmt.Sprintf("127.0.0.1:%d", policyPort), 10*time.Second)
	expect("b1@example.test", "sent", "Verified TLS connection established to mx1.example.test")
	expect("b2@mismatch.test", "deferred", "Server certificate not verified")
	if !strings.Contains(d2.log.String(), "tls policy fetch failed") {
		t.Errorf("restarted daemon did not try a fetch for the new id:\n%s", d2.log.String())
	}

	// The service stopped: Postfix defers all mail to every destination
	// (the policy table lookup fails), policy or not.
	d2.Stop(t)
	expect("c1@plain.test", "deferred", "Connection refused", "client TLS configuration problem")
	if t.Failed() {
		t.Logf("tx log:\n%s", tail(txLog(), 6000))
	}
}

// startTLSReceiver runs rx: STARTTLS with the test CA's certificate for
// mx1.example.test, mailboxes for every test domain, no milter.
func startTLSReceiver(t *testing.T, root string) *mta {
	t.Helper()
	dir := filepath.Join(root, "rx")
	port := freePort(t)
	extra := fmt.Sprintf(`myhostname = rx.authmilter.test
smtpd_milters =
smtpd_tls_security_level = may
smtpd_tls_chain_files = %[1]s/rx.key, %[1]s/rx.crt
smtpd_tls_loglevel = 1
`, root)
	m := startPrivatePostfix(t, dir, fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd\n", port), extra, "")
	m.Name = "rx"
	m.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	waitPort(t, m.Addr, 10*time.Second)
	return m
}

// startTLSSender runs tx: it delivers to the MX hosts of the test domains
// at rx's port, with the policy maps of contrib/postfix/tls_policy.cf as
// shipped (address and CA file replaced), in a mount namespace whose
// /etc/resolv.conf names the DNS server at dnsAddr (port 53).
func startTLSSender(t *testing.T, root string, rx *mta, policyPort int, caFile, dnsAddr string) *mta {
	t.Helper()
	dir := filepath.Join(root, "tx")
	port := freePort(t)
	_, rxPort, _ := strings.Cut(rx.Addr, "127.0.0.1:")
	snippet, err := os.ReadFile("../../contrib/postfix/tls_policy.cf")
	if err != nil {
		t.Fatal(err)
	}
	policy := strings.NewReplacer("inet:127.0.0.1:8461", fmt.Sprintf("inet:127.0.0.1:%d", policyPort),
		"/etc/ssl/certs/ca-certificates.crt", caFile).Replace(string(snippet))
	extra := fmt.Sprintf(`myhostname = tx.authmilter.test
smtpd_milters =
virtual_mailbox_domains =
default_transport = smtp
relay_transport = smtp
smtp_tcp_port = %s
smtp_tls_session_cache_database =
smtp_connection_cache_on_demand = no
# A new smtp(8) per delivery: it caches policy answers per process.
max_use = 1
# contrib/postfix/tls_policy.cf as shipped, address and CA file replaced:
%s`, rxPort, policy)
	resolv := filepath.Join(root, "resolv.conf")
	host, _, _ := strings.Cut(dnsAddr, ":")
	if err := os.WriteFile(resolv, []byte("nameserver "+host+"\noptions trust-ad edns0 attempts:2 timeout:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := startPrivatePostfix(t, dir, fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd\n", port), extra, resolv)
	m.Name = "tx"
	m.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	waitPort(t, m.Addr, 10*time.Second)
	return m
}

// startPrivatePostfix starts a Postfix instance under dir from the
// harness's main.cf and master.cf with extra main.cf lines (which
// replace the harness's) and a tlsmgr. With resolv set, it runs in a
// mount namespace where that file is /etc/resolv.conf.
func startPrivatePostfix(t *testing.T, dir, listener, extra, resolv string) *mta {
	t.Helper()
	conf, queue, data, mail := filepath.Join(dir, "conf"), filepath.Join(dir, "queue"), filepath.Join(dir, "data"), filepath.Join(dir, "mail")
	for _, d := range []string{conf, queue, data, mail} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exec.Command("chown", "postfix", data).Run()
	exec.Command("chown", "65534:65534", mail).Run()
	mainCF := fmt.Sprintf(postfixMainCF, queue, data, mail, dir, "127.0.0.1:1")
	mainCF = strings.Replace(mainCF, "virtual_mailbox_domains = rcpt.test",
		"virtual_mailbox_domains = "+strings.Join(tlsPolicyDomains, " "), 1)
	mainCF = withParams(mainCF, extra)
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	masterCF := listener + postfixMasterCF + "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n"
	if err := os.WriteFile(filepath.Join(conf, "master.cf"), []byte(masterCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("/usr/sbin/postfix", "-c", conf, "check").CombinedOutput(); err != nil {
		t.Fatalf("postfix check: %v\n%s", err, out)
	}
	start := exec.Command("/usr/sbin/postfix", "-c", conf, "start")
	if resolv != "" {
		start = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
			`mount --bind "$1" /etc/resolv.conf && exec /usr/sbin/postfix -c "$2" start`, "sh", resolv, conf)
	}
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("postfix start: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("/usr/sbin/postfix", "-c", conf, "stop").Run() })
	return &mta{mailDir: mail, logf: filepath.Join(dir, "maillog")}
}

// withParams appends the "name = value" lines of extra to mainCF after
// dropping mainCF's lines for the same names. Postfix would warn about
// each overridden entry in every process it starts, and at start those
// warnings can fill the postlog socket before postlogd reads it: every
// process then blocks on its log, the smtpd before its greeting.
func withParams(mainCF, extra string) string {
	set := map[string]bool{}
	for _, l := range strings.Split(extra, "\n") {
		if name, _, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			set[strings.TrimSpace(name)] = true
		}
	}
	var kept []string
	for _, l := range strings.Split(mainCF, "\n") {
		if name, _, ok := strings.Cut(l, "="); ok && set[strings.TrimSpace(name)] {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "\n") + "\n" + extra
}
