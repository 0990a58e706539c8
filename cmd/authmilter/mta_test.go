package main

// The end-to-end harness: our daemon as a real process, a private Postfix
// and a private Sendmail instance on loopback ports, DNS from dnstest.
// .ci/install-mtas.sh installs the MTAs. The tests run when the MTAs are installed, and must run
// (not skip) when AUTHMILTER_E2E=1, as in CI.

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const sendmailRoot = "/opt/authmilter-sendmail"

// needMTA runs an end-to-end test only when AUTHMILTER_E2E=1 (as .ci/run
// sets it): they start real MTAs and take most of a minute, so the plain
// `go test ./...` leaves them out. With it set, a missing MTA or a non-root
// user fails the test instead of skipping it.
func needMTA(t *testing.T, name, path string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	if os.Getenv("AUTHMILTER_E2E") != "1" {
		t.Skip("end-to-end test: set AUTHMILTER_E2E=1 to run it (root, .ci/install-mtas.sh)")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s not installed (%s); run .ci/install-mtas.sh", name, path)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("end-to-end tests need root (to run %s)", name)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// worldDir makes a directory that the MTAs' unprivileged delivery agents
// can traverse (t.TempDir is 0700).
func worldDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "authmilter-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(d)
		} else {
			t.Logf("kept %s for inspection", d)
		}
	})
	return d
}

func waitPort(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %s", addr, timeout)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the daemon binary's directory after the tests: it is
// shared by the tests of one run, so no t.TempDir holds it. The end-to-end
// tests (t.Parallel) mostly wait for their MTAs and daemons, so up to 8 run
// at once unless -parallel says otherwise (the default is GOMAXPROCS, 2 on
// our machines).
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "8")
	}
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// daemonBinary builds cmd/authmilter once per test run.
func daemonBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "authmilter-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "authmilter")
		args := []string{"build", "-o", binPath}
		if os.Getenv("AUTHMILTER_RACE") == "1" {
			args = append(args, "-race") // the daemon itself under the race detector
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// daemon is a running authmilter process.
type daemon struct {
	Addr    string // host:port of the milter socket
	cmd     *exec.Cmd
	log     *syncBuffer
	done    chan error
	stopped bool
}

// startDaemon runs authmilter with the given TOML configuration (listen and
// dns are added here).
func startDaemon(t *testing.T, dnsAddr, extra string) *daemon {
	t.Helper()
	return startDaemonAt(t, freePort(t), dnsAddr, extra)
}

// startDaemonAt is startDaemon on a given port (an MTA started first can
// point at it).
func startDaemonAt(t *testing.T, port int, dnsAddr, extra string) *daemon {
	t.Helper()
	bin := daemonBinary(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "authmilter.toml")
	body := fmt.Sprintf("listen = \"inet:127.0.0.1:%d\"\n%s\n[dns]\nservers = [%q]\ntimeout = \"1s\"\nattempts = 2\n", port, extra, dnsAddr)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemon{Addr: fmt.Sprintf("127.0.0.1:%d", port), log: &syncBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(bin, "-config", conf)
	d.cmd.Stdout = d.log
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.Stop(t)
		if t.Failed() {
			t.Logf("authmilter log:\n%s", d.log.String())
		}
	})
	waitPort(t, d.Addr, 10*time.Second)
	return d
}

// Stop sends SIGTERM and waits for a clean exit.
func (d *daemon) Stop(t *testing.T) {
	if d.stopped {
		return
	}
	d.stopped = true
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("authmilter exited with %v", err)
		}
		if strings.Contains(d.log.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector reported a data race in the daemon")
		}
	case <-time.After(40 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("authmilter did not stop within 40s of SIGTERM")
	}
}

// RSS returns the daemon's resident set and its peak, in bytes.
func (d *daemon) RSS(t *testing.T) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			if f[0] == "VmRSS:" {
				rss = kb << 10
			} else {
				peak = kb << 10
			}
		}
	}
	return rss, peak
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mta is a running private MTA instance.
type mta struct {
	Name    string
	Addr    string // SMTP listener
	Addr6   string // SMTP listener on [::1] (mtaOptions.IPv6), else ""
	mailDir string // where delivered messages land, one file each
	logf    string
	conf    string // Postfix: the configuration directory (sendmail -C)
}

// Delivered waits for a delivered message containing marker and returns it.
func (m *mta) Delivered(t *testing.T, marker string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var found string
		filepath.Walk(m.mailDir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() || found != "" {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return nil
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for i := 0; sc.Scan() && i < 200; i++ {
				if strings.Contains(sc.Text(), marker) {
					b, _ := os.ReadFile(p)
					found = string(b)
					break
				}
			}
			return nil
		})
		if found != "" {
			return found
		}
		time.Sleep(100 * time.Millisecond)
	}
	logb, _ := os.ReadFile(m.logf)
	t.Fatalf("%s: no delivered message with %q after 15s; MTA log:\n%s", m.Name, marker, tail(string(logb), 3000))
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// mtaOptions vary a private MTA instance.
type mtaOptions struct {
	// IPv6: a second SMTP listener on [::1] (mta.Addr6), for IPv6 clients.
	IPv6 bool
	// TLS: STARTTLS offered with this server certificate, client
	// certificates asked for and verified against the CA file.
	TLS *mtaTLS
	// Postfix: lines appended to main.cf (after the contrib snippet) and
	// to master.cf; Sendmail: lines appended to the .mc before the filter.
	MainCF, MasterCF, MC string
}

// mtaTLS are the PEM files of a TLS-enabled MTA instance.
type mtaTLS struct{ Cert, Key, CA string }

// startPostfix runs a private Postfix whose smtpd uses the milter at milterAddr.
func startPostfix(t *testing.T, milterAddr string) *mta {
	t.Helper()
	return startPostfixWith(t, milterAddr, mtaOptions{})
}

func startPostfixWith(t *testing.T, milterAddr string, o mtaOptions) *mta {
	t.Helper()
	needMTA(t, "postfix", "/usr/sbin/postfix")
	root := worldDir(t)
	conf, queue, data, mail := filepath.Join(root, "conf"), filepath.Join(root, "queue"), filepath.Join(root, "data"), filepath.Join(root, "mail")
	for _, d := range []string{conf, queue, data, mail} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exec.Command("chown", "postfix", data).Run()
	exec.Command("chown", "65534:65534", mail).Run()
	port := freePort(t)
	mainCF := fmt.Sprintf(postfixMainCF, queue, data, mail, root, milterAddr)
	// The contrib snippet is what administrators paste; the test uses it as
	// shipped, so it cannot rot.
	snippet, err := os.ReadFile("../../contrib/postfix/main.cf")
	if err != nil {
		t.Fatal(err)
	}
	mainCF += "\n# contrib/postfix/main.cf as shipped, milter address replaced:\n" +
		strings.ReplaceAll(string(snippet), "inet:127.0.0.1:8893", "inet:"+milterAddr) + o.MainCF
	port6 := 0
	if o.IPv6 {
		mainCF = strings.NewReplacer("inet_protocols = ipv4", "inet_protocols = all",
			"mynetworks = 127.0.0.0/8", "mynetworks = 127.0.0.0/8 [::1]/128",
			"smtpd_authorized_xclient_hosts = 127.0.0.0/8", "smtpd_authorized_xclient_hosts = 127.0.0.0/8 [::1]/128").Replace(mainCF)
	}
	if o.TLS != nil {
		mainCF += fmt.Sprintf("smtpd_tls_security_level = may\nsmtpd_tls_chain_files = %s, %s\n"+
			"smtpd_tls_ask_ccert = yes\nsmtpd_tls_CAfile = %s\nsmtpd_tls_loglevel = 1\nsmtpd_tls_session_cache_database =\n",
			o.TLS.Key, o.TLS.Cert, o.TLS.CA)
	}
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	masterCF := fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd\n", port) + postfixMasterCF + o.MasterCF
	if o.TLS != nil {
		masterCF += "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n"
	}
	if o.IPv6 {
		port6 = freePort(t)
		masterCF = fmt.Sprintf("[::1]:%d inet n - n - - smtpd\n", port6) + masterCF
	}
	if err := os.WriteFile(filepath.Join(conf, "master.cf"), []byte(masterCF), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-c", conf, "check"}, {"-c", conf, "start"}} {
		if out, err := exec.Command("/usr/sbin/postfix", args...).CombinedOutput(); err != nil {
			t.Fatalf("postfix %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("/usr/sbin/postfix", "-c", conf, "stop").Run() })
	m := &mta{Name: "postfix", Addr: fmt.Sprintf("127.0.0.1:%d", port), mailDir: mail, logf: filepath.Join(root, "maillog"), conf: conf}
	waitPort(t, m.Addr, 10*time.Second)
	if o.IPv6 {
		m.Addr6 = fmt.Sprintf("[::1]:%d", port6)
		waitPort(t, m.Addr6, 10*time.Second)
	}
	return m
}

const postfixMainCF = `compatibility_level = 3.6
queue_directory = %s
data_directory = %s
mail_owner = postfix
myhostname = mx.authmilter.test
mydomain = authmilter.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_authorized_xclient_hosts = 127.0.0.0/8
local_header_rewrite_clients =
virtual_mailbox_domains = rcpt.test
virtual_mailbox_base = %s
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
default_transport = error:no relaying in tests
relay_transport = error:no relaying in tests
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
message_size_limit = 60000000
virtual_mailbox_limit = 0
maillog_file = %s/maillog
maillog_file_prefixes = /tmp
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
# the milter listens here (the contrib snippet below sets the same):
smtpd_milters = inet:%s
`

const postfixMasterCF = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// startSendmail runs a private Sendmail (unpacked by .ci/install-mtas.sh)
// with INPUT_MAIL_FILTER pointing at milterAddr. It runs in its own UTS
// namespace with a qualified host name: Sendmail sleeps 60 s at start when
// the machine's name is not fully qualified.
func startSendmail(t *testing.T, milterAddr string) *mta {
	t.Helper()
	return startSendmailWith(t, milterAddr, mtaOptions{})
}

func startSendmailWith(t *testing.T, milterAddr string, o mtaOptions) *mta {
	t.Helper()
	bin := sendmailRoot + "/usr/libexec/sendmail/sendmail"
	needMTA(t, "sendmail", bin)
	root := worldDir(t)
	mail := filepath.Join(root, "mail")
	for _, d := range []string{filepath.Join(root, "queue"), mail} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(mail, 0o777)
	deliver := fmt.Sprintf("#!/bin/sh\nf=$(mktemp %s/msg.XXXXXX) || exit 75\ncat > \"$f\" || exit 75\nchmod 644 \"$f\"\n", mail)
	if err := os.WriteFile(filepath.Join(root, "deliver.sh"), []byte(deliver), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "service.switch"), []byte("hosts files\n"), 0o644)
	os.WriteFile(filepath.Join(root, "hosts"), []byte("127.0.0.1 localhost mx.authmilter.test\n::1 localhost6\n"), 0o644)
	port := freePort(t)
	port6 := 0
	if o.IPv6 {
		port6 = freePort(t)
	}
	host, mport, _ := net.SplitHostPort(milterAddr)
	// contrib/sendmail/authmilter.mc, as shipped, with the test's port.
	snippet, err := os.ReadFile("../../contrib/sendmail/authmilter.mc")
	if err != nil {
		t.Fatal(err)
	}
	filter := strings.ReplaceAll(string(snippet), "inet:8893@127.0.0.1", "inet:"+mport+"@"+host)
	mc := fmt.Sprintf(sendmailMC, root, root, root, root, root, port)
	if o.IPv6 {
		mc += fmt.Sprintf("DAEMON_OPTIONS(`Port=%d, Addr=::1, Name=MTA6, Family=inet6')dnl\n", port6)
	}
	if o.TLS != nil {
		mc += fmt.Sprintf("define(`confCACERT_PATH', `%s')dnl\ndefine(`confCACERT', `%s')dnl\n"+
			"define(`confSERVER_CERT', `%s')dnl\ndefine(`confSERVER_KEY', `%s')dnl\n",
			filepath.Dir(o.TLS.CA), o.TLS.CA, o.TLS.Cert, o.TLS.Key)
	}
	mc += o.MC + filter + fmt.Sprintf(sendmailMailer, root)
	if err := os.WriteFile(filepath.Join(root, "test.mc"), []byte(mc), 0o644); err != nil {
		t.Fatal(err)
	}
	cfDir := sendmailRoot + "/usr/share/sendmail/cf/"
	cf, err := exec.Command("m4", "-D_CF_DIR_="+cfDir, cfDir+"m4/cf.m4", filepath.Join(root, "test.mc")).Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	cfPath := filepath.Join(root, "sendmail.cf")
	os.WriteFile(cfPath, cf, 0o644)
	logf := filepath.Join(root, "sendmail.log")
	lf, _ := os.Create(logf)
	cmd := exec.Command("unshare", "--uts", "sh", "-c", "hostname mx.authmilter.test && exec "+bin+" -C "+cfPath+" -bD -L sm-e2e -O LogLevel=14")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
		lf.Close()
	})
	m := &mta{Name: "sendmail", Addr: fmt.Sprintf("127.0.0.1:%d", port), mailDir: mail, logf: logf}
	waitPort(t, m.Addr, 20*time.Second)
	if o.IPv6 {
		m.Addr6 = fmt.Sprintf("[::1]:%d", port6)
		waitPort(t, m.Addr6, 20*time.Second)
	}
	return m
}

const sendmailMC = "divert(-1)\ndivert(0)dnl\n" +
	"OSTYPE(`linux')dnl\n" +
	"define(`confDOMAIN_NAME', `mx.authmilter.test')dnl\n" +
	"define(`QUEUE_DIR', `%s/queue')dnl\n" +
	"define(`confPID_FILE', `%s/sendmail.pid')dnl\n" +
	"define(`STATUS_FILE', `%s/statistics')dnl\n" +
	"define(`confSERVICE_SWITCH_FILE', `%s/service.switch')dnl\n" +
	"define(`confHOSTS_FILE', `%s/hosts')dnl\n" +
	"define(`confDONT_BLAME_SENDMAIL', `GroupWritableDirPathSafe,GroupWritableForwardFileSafe,FileDeliveryToSymlink,ForwardFileInUnsafeDirPath,NonRootSafeAddr,TrustStickyBit,RunProgramInUnsafeDirPath,RunWritableProgram')dnl\n" +
	"define(`confALIAS_FILE', `')dnl\n" +
	"define(`confTO_IDENT', `0s')dnl\n" +
	"define(`confDELIVERY_MODE', `interactive')dnl\n" +
	"define(`confMAX_MESSAGE_SIZE', `60000000')dnl\n" +
	// Sendmail queues instead of delivering above a load average of 8 per
	// CPU and refuses connections above 12 per CPU: a busy test machine
	// would see messages never delivered.
	"define(`confQUEUE_LA', `1000')dnl\n" +
	"define(`confREFUSE_LA', `1000')dnl\n" +
	"FEATURE(`nocanonify')dnl\n" +
	"FEATURE(`accept_unresolvable_domains')dnl\n" +
	"FEATURE(`accept_unqualified_senders')dnl\n" +
	"FEATURE(`promiscuous_relay')dnl\n" +
	// No MSA on port 587 of every address: a second instance (or one of
	// another test run) could not bind it and would not start.
	"FEATURE(`no_default_msa')dnl\n" +
	"DAEMON_OPTIONS(`Port=%d, Addr=127.0.0.1, Name=MTA')dnl\n" +
	// Senders in remote domains must parse to a mailer; nothing is ever
	// relayed (recipients are all in rcpt.test, delivered by testbox).
	"MAILER(`local')dnl\nMAILER(`smtp')dnl\n"

const sendmailMailer = "MAILER_DEFINITIONS\n" +
	"Mtestbox, P=%s/deliver.sh, F=lsDFMn, S=EnvFromL, R=EnvToL/HdrToL, A=deliver $u\n" +
	"LOCAL_RULE_0\n" +
	"R$* < @ rcpt.test . > $*\t$#testbox $: $1\n" +
	"R$* < @ rcpt.test > $*\t$#testbox $: $1\n"

// smtpSession is one SMTP connection to an MTA, from a chosen loopback
// source address (127.0.0.1 is evaluated; 127.0.0.2 is trusted in the tests;
// ::1 goes to the MTA's IPv6 listener, mta.Addr6).
type smtpSession struct {
	c *smtp.Client
}

func dialSMTP(t *testing.T, m *mta, from, helo string) *smtpSession {
	t.Helper()
	ip := net.ParseIP(from)
	addr := m.Addr
	if ip.To4() == nil {
		addr = m.Addr6
	}
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "mx.authmilter.test")
	if err != nil {
		t.Fatalf("%s: greeting: %v", m.Name, err)
	}
	if err := c.Hello(helo); err != nil {
		t.Fatalf("%s: EHLO: %v", m.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return &smtpSession{c: c}
}

// Send runs one transaction and returns the reply to the end of DATA
// ("250 ..." on success, or the error reply such as "550 5.7.1 ...").
func (s *smtpSession) Send(t *testing.T, mailFrom, rcpt string, msg []byte) string {
	t.Helper()
	if err := s.c.Mail(mailFrom); err != nil {
		return replyText(err)
	}
	if err := s.c.Rcpt(rcpt); err != nil {
		return replyText(err)
	}
	w, err := s.c.Data()
	if err != nil {
		return replyText(err)
	}
	if _, err := w.Write(msg); err != nil {
		return replyText(err)
	}
	if err := w.Close(); err != nil {
		return replyText(err)
	}
	return "250 ok"
}

// replyText is "CODE text" of an SMTP error reply.
func replyText(err error) string {
	var te *textproto.Error
	if errors.As(err, &te) {
		return fmt.Sprintf("%03d %s", te.Code, te.Msg)
	}
	return err.Error()
}
