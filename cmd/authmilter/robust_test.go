package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
)

// startDaemonProc runs the built daemon as `sh -c "<shell>; exec authmilter
// -config FILE"` with its stdout and stderr to out, and returns its milter
// address and process; it is killed at the end of the test.
func startDaemonProc(t *testing.T, dnsAddr, extra, shell string, out *os.File) (string, *exec.Cmd, chan error) {
	t.Helper()
	bin := daemonBinary(t)
	port := freePort(t)
	conf := filepath.Join(t.TempDir(), "authmilter.toml")
	body := fmt.Sprintf("listen = \"inet:127.0.0.1:%d\"\n%s\n[dns]\nservers = [%q]\ntimeout = \"1s\"\nattempts = 2\n", port, extra, dnsAddr)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", shell+`; exec "$0" -config "$1"`, bin, conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitPort(t, addr, 10*time.Second)
	return addr, cmd, done
}

// stopProc sends SIGTERM and wants exit status 0 within 20 s.
func stopProc(t *testing.T, cmd *exec.Cmd, done chan error) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("authmilter exited with %v", err)
		}
		done <- err
	case <-time.After(20 * time.Second):
		t.Error("authmilter did not stop within 20 s of SIGTERM")
	}
}

// TestDaemonSurvivesClosedLog: with stdout and stderr to a pipe whose
// reader has gone (authmilter 2>&1 | head -1), the next log line used to
// kill the daemon with SIGPIPE. It must go on answering, and stop cleanly.
func TestDaemonSurvivesClosedLog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := otherTestDNS(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	addr, cmd, done := startDaemonProc(t, srv.Addr, `authserv_id = "pipe.test"`, "true", w)
	w.Close()
	r.Close() // the reader goes away: every later log line meets EPIPE
	for i := 0; i < 3; i++ {
		if ar, act := milterRoundTrip(t, addr); !strings.HasPrefix(ar, " pipe.test;") || act.Code != gomilter.ActAccept {
			t.Fatalf("message %d: A-R %q action %c", i, ar, act.Code)
		}
	}
	stopProc(t, cmd, done)
}

// TestDaemonSurvivesBlockedLog: with stderr to a pipe nobody reads, once
// the pipe is full a write to it blocks; messages must still be answered.
func TestDaemonSurvivesBlockedLog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := otherTestDNS(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The smallest pipe (one page) fills after a few lines.
	syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), 1031 /* F_SETPIPE_SZ */, 4096)
	addr, cmd, done := startDaemonProc(t, srv.Addr, "authserv_id = \"blocked.test\"\n[log]\nlevel = \"debug\"\n", "true", w)
	w.Close()
	for i := 0; i < 60; i++ { // ~30 KB of log at debug level
		if ar, act := milterRoundTrip(t, addr); !strings.HasPrefix(ar, " blocked.test;") || act.Code != gomilter.ActAccept {
			t.Fatalf("message %d: A-R %q action %c", i, ar, act.Code)
		}
	}
	stopProc(t, cmd, done)
}

// TestDaemonSurvivesEMFILE: the daemon with RLIMIT_NOFILE at 40 and 60
// connections opened: accept fails with EMFILE (it used to stop the daemon
// and every session with it). Once the connections close the daemon serves
// again, a message in flight since before is answered, and the failures are
// counted and logged (once per burst).
func TestDaemonSurvivesEMFILE(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := otherTestDNS(t)
	logf, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	mport := freePort(t)
	addr, cmd, done := startDaemonProc(t, srv.Addr, fmt.Sprintf("authserv_id = \"fd.test\"\n[metrics]\nlisten = \"127.0.0.1:%d\"\n", mport), "ulimit -n 40", logf)

	// A message in flight: MAIL FROM sent (SPF looked up), end of message
	// not yet.
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
	for _, step := range []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) {
			return s.Conn("client.test", gomilter.FamilyInet, 4321, "198.51.100.7")
		},
		func() (*gomilter.Action, error) { return s.Helo("client.test") },
		func() (*gomilter.Action, error) { return s.Mail("<a@other.test>", nil) },
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // SPF's lookups done while descriptors remain

	var flood []net.Conn
	for i := 0; i < 60; i++ {
		fc, err := net.Dial("tcp", addr) // queued by the kernel; accept fails
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, fc)
	}
	logged := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }
	for i := 0; i < 100 && !strings.Contains(logged(), "too many open files"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logged(), "accepting milter connections failed") {
		t.Fatalf("no EMFILE: the test did not exhaust the daemon's descriptors:\n%s", logged())
	}
	for _, fc := range flood {
		fc.Close()
	}
	// The daemon serves again (its sessions of the flood see EOF and end).
	var ar string
	for i := 0; i < 50; i++ {
		if ar = tryRoundTrip(addr); ar != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(ar, " fd.test;") {
		t.Fatalf("no message served after the connections closed:\n%s", logged())
	}
	for _, step := range []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) { return s.HeaderField("From", " a@other.test") },
		func() (*gomilter.Action, error) { return s.HeaderEnd() },
		func() (*gomilter.Action, error) { return s.BodyChunk([]byte("hello\r\n")) },
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if _, act, err := s.End(); err != nil || act.Code != gomilter.ActAccept {
		t.Fatalf("the message in flight since before EMFILE: %v %v", act, err)
	}
	resp, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp, "authmilter_accept_errors_total") || strings.Contains(resp, "authmilter_accept_errors_total 0\n") {
		t.Errorf("accept errors not counted:\n%s", grepLines(resp, "authmilter_accept_errors_total"))
	}
	n := strings.Count(logged(), "accepting milter connections failed")
	if n > 60 {
		t.Errorf("%d log lines for the accept errors of 60 connections", n)
	}
	t.Logf("%d bursts of accept errors logged; %s", n, grepLines(resp, "authmilter_accept_errors_total "))
	stopProc(t, cmd, done)
}

// tryRoundTrip is milterRoundTrip without failing the test: the inserted
// A-R, or "" on any error.
func tryRoundTrip(addr string) string {
	c := gomilter.NewClientWithOptions("tcp", addr, gomilter.ClientOptions{
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	})
	defer c.Close()
	s, err := c.Session()
	if err != nil {
		return ""
	}
	defer s.Close()
	for _, step := range []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) {
			return s.Conn("client.test", gomilter.FamilyInet, 4321, "198.51.100.7")
		},
		func() (*gomilter.Action, error) { return s.Helo("client.test") },
		func() (*gomilter.Action, error) { return s.Mail("<a@other.test>", nil) },
		func() (*gomilter.Action, error) { return s.HeaderField("From", " a@other.test") },
		func() (*gomilter.Action, error) { return s.HeaderEnd() },
	} {
		if _, err := step(); err != nil {
			return ""
		}
	}
	mods, _, err := s.End()
	if err != nil {
		return ""
	}
	for _, m := range mods {
		if m.Code == gomilter.ActInsertHeader && m.HeaderName == "Authentication-Results" {
			return m.HeaderValue
		}
	}
	return ""
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// grepLines returns the lines of s that start with prefix.
func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, syscall.EPIPE }

// TestLogWriterNeverHolds: a destination that blocks or fails never holds
// or fails the writer: lines past the queue are dropped, Flush is bounded.
func TestLogWriterNeverHolds(t *testing.T) {
	bw := blockingWriter{release: make(chan struct{})}
	defer close(bw.release)
	for _, dst := range []io.Writer{bw, failingWriter{}} {
		lw := newLogWriter(dst)
		start := time.Now()
		for i := 0; i < 3*logQueue; i++ {
			if n, err := lw.Write([]byte("level=INFO msg=message\n")); n != 23 || err != nil {
				t.Fatalf("%T: Write = %d, %v", dst, n, err)
			}
		}
		lw.Flush(100 * time.Millisecond)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%T: %d lines and a flush took %v", dst, 3*logQueue, d)
		}
	}
	var out syncBuffer
	lw := newLogWriter(&out)
	lw.Write([]byte("one\n"))
	lw.Write([]byte("two\n"))
	lw.Flush(5 * time.Second)
	if out.String() != "one\ntwo\n" {
		t.Fatalf("written %q", out.String())
	}
}
