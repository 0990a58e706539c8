package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestEndToEndPostfixUnixSocket follows the README's recipe for Debian's
// Postfix, whose smtpd runs chrooted in its queue directory: authmilter
// listens on a unix socket in <queue>/authmilter (a setgid directory of group
// postfix, so the socket is the group's; socket_mode 0660), and main.cf names
// it as unix:authmilter/authmilter.sock, relative to the queue directory. The
// same main.cf must work with smtpd chrooted and not.
func TestEndToEndPostfixUnixSocket(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	grp, err := user.LookupGroup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(grp.Gid)
	w := newE2EWorld(t)
	// The milter address is set below, once the queue directory exists.
	m := startPostfix(t, "127.0.0.1:9")
	root := filepath.Dir(m.mailDir)
	conf, queue := filepath.Join(root, "conf"), filepath.Join(root, "queue")

	// install -d -o root -g postfix -m 2770 <queue>/authmilter
	dir := filepath.Join(queue, "authmilter")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o770|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "authmilter.sock")
	startDaemonUnix(t, sock, w.dns.Addr, "socket_mode = \"0660\"\n"+e2eConfig)
	if fi, err := os.Stat(sock); err != nil {
		t.Fatal(err)
	} else if st, ok := fi.Sys().(interface{ Gid() uint32 }); ok && int(st.Gid()) != gid {
		t.Fatalf("socket group %d, want postfix (%d)", st.Gid(), gid)
	}

	postconf(t, "-c", conf, "-e", "smtpd_milters = unix:authmilter/authmilter.sock")
	for _, chroot := range []string{"n", "y"} {
		t.Run("chroot="+chroot, func(t *testing.T) {
			service := m.Addr + "/inet"
			postconf(t, "-c", conf, "-F", service+"/chroot="+chroot)
			before := smtpds(queue)
			if out, err := exec.Command("/usr/sbin/postfix", "-c", conf, "reload").CombinedOutput(); err != nil {
				t.Fatalf("postfix reload: %v\n%s", err, out)
			}
			// An smtpd from before the reload may still take a connection
			// (with the old settings): connect until all of them are gone
			// and those that answer run with the new chroot setting.
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				if c, err := net.DialTimeout("tcp", m.Addr, time.Second); err == nil {
					c.SetDeadline(time.Now().Add(2 * time.Second))
					c.Read(make([]byte, 512)) // the banner: an smtpd took the connection
					c.Write([]byte("QUIT\r\n"))
					c.Close()
				}
				now, ok := smtpds(queue), true
				for pid, chrooted := range now {
					if _, old := before[pid]; old || chrooted != (chroot == "y") {
						ok = false
					}
				}
				if ok && len(now) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("smtpd processes %v (chrooted or not) 15 s after postfix reload to chroot=%s; before: %v", now, chroot, before)
				}
			}
			checkAlignedPass(t, w, m, fmt.Sprintf("<unix.chroot-%s.%d@e2e.test>", chroot, time.Now().UnixNano()))
		})
	}
}

// smtpds returns this Postfix instance's smtpd processes (their working
// or root directory is its queue directory), each with whether it runs
// chrooted.
func smtpds(queue string) map[string]bool {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	out := map[string]bool{}
	for _, p := range procs {
		comm, _ := os.ReadFile(p + "/comm")
		if string(comm) != "smtpd\n" {
			continue
		}
		root, _ := os.Readlink(p + "/root")
		cwd, _ := os.Readlink(p + "/cwd")
		switch {
		case root == queue:
			out[filepath.Base(p)] = true
		case root == "/" && cwd == queue:
			out[filepath.Base(p)] = false
		}
	}
	return out
}

func postconf(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("/usr/sbin/postconf", args...).CombinedOutput(); err != nil {
		t.Fatalf("postconf %q: %v\n%s", args, err, out)
	}
}

// startDaemonUnix runs authmilter listening on the unix socket sock.
func startDaemonUnix(t *testing.T, sock, dnsAddr, extra string) *daemon {
	t.Helper()
	bin := daemonBinary(t)
	cfg := filepath.Join(t.TempDir(), "authmilter.toml")
	body := fmt.Sprintf("listen = %q\n%s\n[dns]\nservers = [%q]\ntimeout = \"1s\"\nattempts = 2\n", "unix:"+sock, extra, dnsAddr)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemon{Addr: "unix:" + sock, log: &syncBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(bin, "-config", cfg)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
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
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return d
		} else if time.Now().After(deadline) {
			t.Fatalf("authmilter does not listen on %s: %v\n%s", sock, err, d.log.String())
		}
	}
}
