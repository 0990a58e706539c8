package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// milterRoundTrip sends one small message through the daemon with go-milter's
// client, as an MTA would, and returns the inserted A-R value and the action.
func milterRoundTrip(t *testing.T, addr string) (ar string, act *gomilter.Action) {
	t.Helper()
	c := gomilter.NewClientWithOptions("tcp", addr, gomilter.ClientOptions{
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	})
	defer c.Close()
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	steps := []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) {
			return s.Conn("client.test", gomilter.FamilyInet, 4321, "198.51.100.7")
		},
		func() (*gomilter.Action, error) { return s.Helo("client.test") },
		func() (*gomilter.Action, error) { return s.Mail("<a@other.test>", nil) },
		func() (*gomilter.Action, error) { return s.Rcpt("<u@rcpt.test>", nil) },
		func() (*gomilter.Action, error) { return s.HeaderField("From", " a@other.test") },
		func() (*gomilter.Action, error) { return s.HeaderField("Subject", " hi") },
		func() (*gomilter.Action, error) { return s.HeaderEnd() },
		func() (*gomilter.Action, error) { return s.BodyChunk([]byte("hello\r\n")) },
	}
	for i, step := range steps {
		a, err := step()
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if a.Code != gomilter.ActContinue {
			t.Fatalf("step %d: action %c, want continue", i, a.Code)
		}
	}
	mods, act, err := s.End()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		if m.Code == gomilter.ActInsertHeader && m.HeaderName == "Authentication-Results" {
			ar = m.HeaderValue
		}
	}
	return ar, act
}

// otherTestDNS serves what milterRoundTrip's message needs: other.test
// publishes SPF for its client and p=reject.
func otherTestDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	srv, _ := dnstest.StartResolver(t, `other.test. TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.other.test. TXT "v=DMARC1; p=reject"`)
	return srv
}

// TestDaemonReloadAndStop: SIGHUP applies a new configuration to new
// messages, a bad file is refused and the old configuration kept, SIGTERM
// exits 0.
func TestDaemonReloadAndStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := otherTestDNS(t)
	d := startDaemon(t, srv.Addr, `authserv_id = "first.test"`)
	conf := d.cmd.Args[len(d.cmd.Args)-1]

	ar, act := milterRoundTrip(t, d.Addr)
	if !strings.HasPrefix(ar, " first.test;") || act.Code != gomilter.ActAccept {
		t.Fatalf("before reload: A-R %q action %c", ar, act.Code)
	}
	rewrite := func(id string) {
		b, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(b), `authserv_id = "first.test"`, id, 1)
		if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitLog := func(sub string) {
		t.Helper()
		for i := 0; i < 100 && !strings.Contains(d.log.String(), sub); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(d.log.String(), sub) {
			t.Fatalf("log lacks %q:\n%s", sub, d.log.String())
		}
	}

	rewrite(`authserv_id = "second.test"`)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog("configuration reloaded")
	ar, _ = milterRoundTrip(t, d.Addr)
	if !strings.HasPrefix(ar, " second.test;") {
		t.Fatalf("after reload: A-R %q, want second.test", ar)
	}

	b, _ := os.ReadFile(conf)
	os.WriteFile(conf, append(b, []byte("\nnot_a_key = 1\n")...), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog("reload refused")
	ar, _ = milterRoundTrip(t, d.Addr)
	if !strings.HasPrefix(ar, " second.test;") {
		t.Fatalf("after a refused reload: A-R %q, want the old second.test", ar)
	}
	d.Stop(t)
	if d.cmd.ProcessState == nil || d.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("exit: %v", d.cmd.ProcessState)
	}
	if !strings.Contains(d.log.String(), "authmilter stopped") {
		t.Errorf("no stop line in log")
	}
}

// TestDaemonReloadApplies: SIGHUP applies log level and format, milter
// timeouts, the metrics address and the evaluation settings; listen is
// named in a warning and kept; the DNS cache and its counters survive
// because [dns] did not change; reloads are counted by result.
func TestDaemonReloadApplies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := otherTestDNS(t)
	portA, portB := freePort(t), freePort(t)
	before := fmt.Sprintf("authserv_id = \"first.test\"\n[metrics]\nlisten = \"127.0.0.1:%d\"\n", portA)
	d := startDaemon(t, srv.Addr, before)
	conf := d.cmd.Args[len(d.cmd.Args)-1]
	milterRoundTrip(t, d.Addr)
	misses := metricValue(t, scrape(t, portA), "authmilter_dns_cache_misses_total")
	if misses == "" || misses == "0" {
		t.Fatalf("no DNS cache misses before the reload: %q", misses)
	}

	b, _ := os.ReadFile(conf)
	after := strings.Replace(string(b), before, fmt.Sprintf("authserv_id = \"second.test\"\n"+
		"[metrics]\nlisten = \"127.0.0.1:%d\"\n[log]\nformat = \"json\"\nlevel = \"debug\"\n[milter]\nidle_timeout = \"1s\"\n", portB), 1)
	// listen cannot change without a restart.
	after = strings.Replace(after, fmt.Sprintf("listen = %q", "inet:"+d.Addr), `listen = "inet6:[::1]:1"`, 1)
	if err := os.WriteFile(conf, []byte(after), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, d, `"msg":"configuration reloaded"`) // in JSON now
	logs := d.log.String()
	for _, want := range []string{`"keys":["listen"]`, `"dns_cache_kept":true`, `"log.level"`, `"milter.idle_timeout"`, `"metrics.listen"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}

	// The milter still listens where it did, with the new authserv-id.
	if ar, _ := milterRoundTrip(t, d.Addr); !strings.HasPrefix(ar, " second.test;") {
		t.Errorf("after reload: A-R %q", ar)
	}
	// Debug level: the message's DNS lookups are logged now (the log is
	// copied in from the daemon's output: wait for it).
	waitForLog(t, d, `"level":"DEBUG"`)
	// The metrics moved; the cache counters did not start over.
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", portA)); err == nil {
		t.Errorf("the old metrics address still answers")
	}
	m := scrape(t, portB)
	// The same message went through again after the reload: every answer
	// it needs is in the kept cache, so no miss was added (a new cache
	// would count the same misses again, from zero).
	if got := metricValue(t, m, "authmilter_dns_cache_misses_total"); number(got) != number(misses) {
		t.Errorf("DNS cache misses %q after reload and the same message again, was %q: the cache started over", got, misses)
	}
	if got := metricValue(t, m, `authmilter_config_reloads_total{result="applied"}`); got != "1" {
		t.Errorf("reloads applied = %q", got)
	}
	// milter.idle_timeout = 1s applies to new connections.
	c, err := net.Dial("tcp", d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF || time.Since(start) > 10*time.Second {
		t.Errorf("idle connection: %v after %s, want EOF after ~1s", err, time.Since(start))
	}
	c.Close()

	os.WriteFile(conf, append([]byte(after), "\n[spf]\ntimeout = 20\n"...), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, d, "reload refused")
	if got := metricValue(t, scrape(t, portB), `authmilter_config_reloads_total{result="refused"}`); got != "1" {
		t.Errorf("reloads refused = %q", got)
	}
}

func waitForLog(t *testing.T, d *daemon, sub string) {
	t.Helper()
	for i := 0; i < 100 && !strings.Contains(d.log.String(), sub); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(d.log.String(), sub) {
		t.Fatalf("log lacks %q:\n%s", sub, d.log.String())
	}
}

func scrape(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func number(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1
	}
	return f
}

// metricValue is the value of the sample named name (with its labels), "" if absent.
func metricValue(t *testing.T, exposition, name string) string {
	t.Helper()
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestMetricsEndpoint: with metrics.listen set, /healthz answers and
// /metrics carries the message, result, DNS and session metrics.
func TestMetricsEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := otherTestDNS(t)
	mport := freePort(t)
	d := startDaemon(t, srv.Addr, fmt.Sprintf("authserv_id = \"m.test\"\n[metrics]\nlisten = \"127.0.0.1:%d\"\n", mport))
	milterRoundTrip(t, d.Addr)
	milterRoundTrip(t, d.Addr)
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", mport, path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		return string(b)
	}
	if h := get("/healthz"); strings.TrimSpace(h) != "ok" {
		t.Errorf("/healthz = %q", h)
	}
	m := get("/metrics")
	for _, want := range []string{
		`authmilter_messages_total{action="accept"} 2`,
		`authmilter_results_total{method="dmarc",result="pass"} 2`,
		`authmilter_results_total{method="spf",result="pass"} 2`,
		`authmilter_eom_latency_seconds_count 2`,
		"authmilter_sessions_active",
		"authmilter_dns_cache_hits_total",
		"authmilter_dns_cache_misses_total",
		"authmilter_dns_coalesced_total",
		`authmilter_dns_upstream_total{rcode="NOERROR"}`,
		"authmilter_dns_upstream_latency_seconds_bucket",
		`authmilter_config_reloads_total{result="applied"} 0`,
		"authmilter_accept_errors_total 0",
		"authmilter_connections_refused_total 0",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestMetricsPprof: /debug/pprof/ is served only with metrics.pprof = true.
func TestMetricsPprof(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := otherTestDNS(t)
	for _, on := range []bool{false, true} {
		mport := freePort(t)
		startDaemon(t, srv.Addr, fmt.Sprintf("[metrics]\nlisten = \"127.0.0.1:%d\"\npprof = %v\n", mport, on))
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", mport))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: 404, true: 200}[on]; resp.StatusCode != want {
			t.Errorf("pprof = %v: /debug/pprof/ answered %s, want %d", on, resp.Status, want)
		}
	}
}

// TestUnixSocketListen: a unix socket gets the configured mode, and a stale
// socket from an earlier run is replaced.
func TestUnixSocketListen(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/authmilter.sock"
	for i := 0; i < 2; i++ { // the second round finds the first's socket
		ln, err := listen("unix:"+path, "0620", "")
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o620 || fi.Mode()&os.ModeSocket == 0 {
			t.Errorf("mode %v, want socket 0620", fi.Mode())
		}
		if i == 0 {
			// Leave the file behind as a crashed daemon would.
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
		}
		ln.Close()
	}
}

// TestUnixSocketInUse: a socket that a running instance serves is not
// taken over; the first instance keeps its path.
func TestUnixSocketInUse(t *testing.T) {
	path := t.TempDir() + "/authmilter.sock"
	first, err := listen("unix:"+path, "0660", "")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := listen("unix:"+path, "0660", "")
	if err == nil {
		second.Close()
		t.Fatal("a second listener took over a socket in use")
	}
	if !strings.Contains(err.Error(), "another process") {
		t.Errorf("error %q does not say the socket is in use", err)
	}
	go func() {
		if c, err := first.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the first instance lost its socket: %v", err)
	}
	c.Close()
}

// TestUnixSocketGroup: socket_group gives the socket that group.
func TestUnixSocketGroup(t *testing.T) {
	gid := os.Getgid()
	path := t.TempDir() + "/authmilter.sock"
	ln, err := listen("unix:"+path, "0660", fmt.Sprint(gid))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Sys().(*syscall.Stat_t).Gid; int(got) != gid {
		t.Errorf("socket group %d, want %d", got, gid)
	}
}

// TestSetGCPercent: the daemon's GC target is defaultGCPercent unless GOGC
// is in its environment, which is then left to the runtime.
func TestSetGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	if got := setGCPercent(func(string) string { return "" }); got != "200" {
		t.Errorf("no GOGC: %q, want 200", got)
	}
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GC percent in force %d, want %d", got, defaultGCPercent)
	}
	env := func(k string) string {
		if k == "GOGC" {
			return "off"
		}
		return ""
	}
	if got := setGCPercent(env); got != "off" {
		t.Errorf("GOGC=off: %q", got)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: GC percent changed to %d", got)
	}
}
