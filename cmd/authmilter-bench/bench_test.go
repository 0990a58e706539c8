package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/milter"
)

var (
	corpusOnce sync.Once
	corpusDir  string
	corpusErr  error
)

// testCorpus generates one small corpus for the package's tests; the
// benchmarks take AUTHMILTER_BENCH_CORPUS (a directory written by gen)
// instead when it is set.
func testCorpus(tb testing.TB) *Corpus {
	tb.Helper()
	if dir := os.Getenv("AUTHMILTER_BENCH_CORPUS"); dir != "" {
		if _, ok := tb.(*testing.B); ok {
			c, err := LoadCorpus(dir)
			if err != nil {
				tb.Fatal(err)
			}
			return c
		}
	}
	corpusOnce.Do(func() {
		dir, err := mkdirTemp()
		if err != nil {
			corpusErr = err
			return
		}
		corpusDir = dir
		corpusErr = Generate(GenConfig{Dir: dir, Messages: 60, Seed: 7, MaxSize: 64 << 10})
	})
	if corpusErr != nil {
		tb.Fatal(corpusErr)
	}
	c, err := LoadCorpus(corpusDir)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func startNull(tb testing.TB, proto uint32) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	n := &NullMilter{Protocol: proto}
	go n.Serve(ln)
	tb.Cleanup(n.Close)
	return ln.Addr().String()
}

// startAuthmilter runs the daemon's milter server in-process against the
// corpus zone on dnstest.
func startAuthmilter(tb testing.TB, c *Corpus) string {
	tb.Helper()
	d, err := StartDNS(c.Zone, 0, "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	res, err := dns.New(dns.Config{Servers: []string{d.Srv.Addr}, Timeout: 2 * time.Second, Attempts: 2})
	if err != nil {
		tb.Fatal(err)
	}
	cfg := auth.DefaultConfig()
	cfg.AuthservID = "bench.test"
	w := milter.NewWorkers() // as the daemon
	tb.Cleanup(w.Stop)
	ev, err := auth.NewWithGo(cfg, res, nil, w.Go)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := milter.NewServer(milter.DefaultConfig(), ev, w.Go, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

func TestCorpusSplit(t *testing.T) {
	c := testCorpus(t)
	kinds := map[string]bool{}
	for _, m := range c.Messages {
		kinds[m.Kind] = true
		if len(m.Headers) < 8 || len(m.Body) == 0 {
			t.Fatalf("%s: %d header fields, %d body bytes", m.File, len(m.Headers), len(m.Body))
		}
		if m.Size < 2<<10 || m.Size > 64<<10+4<<10 {
			t.Errorf("%s: size %d outside 2 KB..64 KB", m.File, m.Size)
		}
		for _, f := range m.Headers {
			if strings.Contains(f.Value, "\r") {
				t.Fatalf("%s: %s has a CR; folds must be bare LF", m.File, f.Name)
			}
		}
		if !bytes.HasSuffix(m.Body, []byte("\r\n")) {
			t.Fatalf("%s: body does not end in CRLF", m.File)
		}
	}
	if len(kinds) < 8 {
		t.Errorf("only %d kinds in 60 messages", len(kinds))
	}
}

// TestDKIMFloor: the null milter's -dkim-dns mode rebuilds each message
// from the milter packets well enough for auth/dkim to verify every
// signature the corpus made, and fails exactly the broken and keyless ones:
// the floor does the whole work of DKIM, not less.
func TestDKIMFloor(t *testing.T) {
	c := testCorpus(t)
	d, err := StartDNS(c.Zone, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	byName := map[string]kind{}
	for _, k := range kinds {
		byName[k.name] = k
	}
	var sigs, valid int64
	for _, m := range c.Messages {
		k := byName[m.Kind]
		sigs += int64(len(k.sign))
		for _, s := range k.sign {
			if k.broken == "" && !strings.HasPrefix(s, "gone.") {
				valid++
			}
		}
	}
	if valid == 0 || valid == sigs {
		t.Fatalf("corpus has %d signatures, %d good: not a test", sigs, valid)
	}
	f := newDKIMFloor(d.Srv.Addr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &NullMilter{Verify: f.Verify}
	go n.Serve(ln)
	defer n.Close()
	res, err := Run(c, RunConfig{Targets: []string{ln.Addr().String()}, Sessions: 4, Messages: len(c.Messages), PerConn: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors > 0 || res.Actions["accept"] != len(c.Messages) {
		t.Fatalf("actions %v, %d errors: %v", res.Actions, res.Errors, res.FirstErr)
	}
	if f.Sigs.Load() != sigs || f.Valid.Load() != valid {
		t.Errorf("floor saw %d signatures, %d verified; the corpus has %d, %d good", f.Sigs.Load(), f.Valid.Load(), sigs, valid)
	}
}

func TestRunNull(t *testing.T) {
	c := testCorpus(t)
	for _, tc := range []struct {
		name  string
		proto uint32
	}{
		{"no-reply", 0},
		{"reply-all", pNoUnknown | pNoData | pHdrLeadSpc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startNull(t, tc.proto)
			res, err := Run(c, RunConfig{Targets: []string{addr}, Sessions: 4, Messages: 60, PerConn: 3})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors > 0 || res.Actions["accept"] != 60 {
				t.Fatalf("actions %v, %d errors: %v", res.Actions, res.Errors, res.FirstErr)
			}
		})
	}
}

// TestRunAuthmilter drives the real milter server: every message must get
// the action the corpus expects, so the corpus, the client and the daemon
// agree on what is spoofed and what is aligned.
func TestRunAuthmilter(t *testing.T) {
	c := testCorpus(t)
	addr := startAuthmilter(t, c)
	res, err := Run(c, RunConfig{Targets: []string{addr}, Sessions: 4, Messages: 60, PerConn: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors > 0 {
		t.Fatalf("%d errors: %v", res.Errors, res.FirstErr)
	}
	if res.Expected != 60 {
		for _, m := range c.Messages {
			s, _, err := openSession([]string{addr}, true, 0, m)
			if err != nil {
				t.Fatal(err)
			}
			if o := s.send(m); o.Action != m.Expect {
				t.Errorf("%s (%s): action %s, want %s %v", m.File, m.Kind, o.Action, m.Expect, o.Replies)
			}
			s.close()
		}
	}
	if res.Actions["reject"] == 0 || res.Actions["accept"] == 0 {
		t.Errorf("actions %v: want both rejects and accepts", res.Actions)
	}
}

// TestChainAppliesHeaders checks that a chain hands the second milter the
// header the first one inserted, as Postfix's cleanup does.
func TestChainAppliesHeaders(t *testing.T) {
	h := []Field{{"From", " a@example.com"}, {"Subject", " x"}}
	got := applyMods(h, []mod{
		{code: repInsHeader, index: 0, name: "Authentication-Results", value: "x; dkim=pass"},
		{code: repAddHeader, name: "X-Tail", value: "1"},
		{code: repChgHeader, index: 1, name: "Subject", value: ""},
	})
	want := []Field{{"Authentication-Results", " x; dkim=pass"}, {"From", " a@example.com"}, {"X-Tail", " 1"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestStream(t *testing.T) {
	c := testCorpus(t)
	addr := startNull(t, 0)
	r, err := Stream([]string{addr}, c.Messages[0], 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Action != "accept" || r.Bytes != 2<<20 {
		t.Fatalf("%+v", r)
	}
}

// BenchmarkAuthmilter measures the in-process daemon under 8 sessions:
//
//	go test -run XXX -bench Authmilter -cpuprofile cpu.out ./cmd/authmilter-bench/
func BenchmarkAuthmilter(b *testing.B) {
	c := testCorpus(b)
	addr := startAuthmilter(b, c)
	if _, err := Run(c, RunConfig{Targets: []string{addr}, Sessions: 8, Messages: len(c.Messages), PerConn: 1}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := cpuTime()
	res, err := Run(c, RunConfig{Targets: []string{addr}, Sessions: 8, Messages: b.N, PerConn: 1})
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors > 0 {
		b.Fatal(res.FirstErr)
	}
	b.ReportMetric(res.Rate, "msgs/s")
	b.ReportMetric(msf(res.EOM[2]), "eom-p99-ms")
	b.ReportMetric(msf(res.Total[2]), "msg-p99-ms")
	// CPU per message (generator and daemon together) moves less than
	// msgs/s when other processes share the cores.
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/msg")
}

func BenchmarkNull(b *testing.B) {
	c := testCorpus(b)
	addr := startNull(b, 0)
	b.ResetTimer()
	cpu := cpuTime()
	res, err := Run(c, RunConfig{Targets: []string{addr}, Sessions: 8, Messages: b.N, PerConn: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.Rate, "msgs/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/msg")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestLoopbackOnly(t *testing.T) {
	for _, a := range []string{"127.0.0.1:8893", "[::1]:25", "localhost:1", "127.0.0.77:53", "unix:/run/x.sock"} {
		if err := loopbackOnly(a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, a := range []string{"198.51.100.1:25", "0.0.0.0:8893", "example.com:25", "10.0.0.1:1", "nonsense"} {
		if loopbackOnly(a) == nil {
			t.Errorf("%s accepted", a)
		}
	}
}

// TestAppendMessage: the floor rebuilds header fields with CRLF folds,
// keeps empty values, ends the header with an empty line, takes body
// octets as they are and starts afresh after ABORT; macros change nothing.
func TestAppendMessage(t *testing.T) {
	var msg []byte
	for _, p := range []struct {
		cmd  byte
		data string
	}{
		{cmdHeader, "Subject\x00 a\n\tb\n c\x00"},
		{cmdMacro, "Ni\x00Q1\x00"},
		{cmdHeader, "X-Empty\x00\x00"},
		{cmdEOH, ""},
		{cmdBody, "body\r\n"},
	} {
		msg = appendMessage(msg, p.cmd, []byte(p.data))
	}
	want := "Subject: a\r\n\tb\r\n c\r\nX-Empty:\r\n\r\nbody\r\n"
	if string(msg) != want {
		t.Errorf("rebuilt %q, want %q", msg, want)
	}
	if got := appendMessage(msg, cmdAbort, nil); len(got) != 0 {
		t.Errorf("after ABORT %q, want empty", got)
	}
	if n := testing.AllocsPerRun(100, func() {
		msg = appendMessage(msg[:0], cmdHeader, []byte("Subject\x00 a\n\tb\x00"))
	}); n != 0 {
		t.Errorf("%v allocations per header field, want 0", n)
	}
}

// TestRunMetricsLoopbackOnly: -metrics is refused unless it names a
// loopback host, before anything is sent anywhere.
func TestRunMetricsLoopbackOnly(t *testing.T) {
	testCorpus(t)
	for _, u := range []string{"http://198.51.100.1:9893/metrics", "http://example.com/metrics", "::"} {
		err := cmdRun([]string{"-corpus", corpusDir, "-target", "127.0.0.1:1", "-n", "1", "-metrics", u}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-metrics") {
			t.Errorf("-metrics %s: %v, want it refused", u, err)
		}
	}
}
