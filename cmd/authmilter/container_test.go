package main

// The container image test: docker/Dockerfile built with podman (the final
// stage FROM scratch, the binary compiled here because no Go image can be
// pulled), run with runc next to the private Postfix of the end-to-end tests.
// shared/docs/CONTAINERS.md has the facts this follows; docker/README.md says
// what it proves and what it does not.

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// needPodman skips the test when podman or runc is missing, unless
// AUTHMILTER_E2E=1, where it fails.
func needPodman(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("container test skipped in -short mode")
	}
	for _, tool := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("AUTHMILTER_E2E") == "1" {
				t.Fatalf("%s not installed; run .ci/install-mtas.sh", tool)
			}
			t.Skipf("%s not installed; run .ci/install-mtas.sh as root to run this test", tool)
		}
	}
	if os.Geteuid() != 0 {
		if os.Getenv("AUTHMILTER_E2E") == "1" {
			t.Fatal("the container test needs root (podman with runc and host networking)")
		}
		t.Skip("the container test needs root (podman with runc and host networking)")
	}
}

// containersConf is what podman needs on these machines (CONTAINERS.md):
// the cgroupfs manager and no default ulimits; events go to a file, as no
// systemd journal runs here.
const containersConf = `[containers]
default_ulimits = []
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
events_logfile_path = %q
tmp_dir = %q
`

// podman runs podman with a private storage (vfs, so nothing stays mounted)
// under one temporary directory, removed at the end.
type podman struct {
	dir string
	env []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	dir, err := os.MkdirTemp("", "authmilter-podman-")
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{dir: dir}
	for _, d := range []string{"root", "run", "tmp", "engine"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "containers.conf")
	body := fmt.Sprintf(containersConf, filepath.Join(dir, "events.log"), filepath.Join(dir, "engine"))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p.env = append(os.Environ(), "CONTAINERS_CONF="+conf, "TMPDIR="+filepath.Join(dir, "tmp"))
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("podman storage %s not removed: %v", dir, err)
		}
	})
	return p
}

// run runs one podman command and returns its combined output.
func (p *podman) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{
		"--root", filepath.Join(p.dir, "root"), "--runroot", filepath.Join(p.dir, "run"),
		"--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
	}, args...)
	cmd := exec.CommandContext(ctx, "podman", full...)
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (p *podman) must(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	out, err := p.run(timeout, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// staticBinary builds cmd/authmilter as the Dockerfile's build stage does
// (CGO_ENABLED=0) into dir/authmilter and checks that it is static: a
// dynamic binary fails in a FROM scratch image.
func staticBinary(t *testing.T, dir string) {
	t.Helper()
	bin := filepath.Join(dir, "authmilter")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=container-test", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("%s is dynamically linked (program header %v)", bin, p.Type)
		}
	}
}

// TestContainer builds docker/Dockerfile (BIN_STAGE=prebuilt: the binary
// from the host, the same final stage as a normal build), runs the image
// unprivileged and read-only with host networking, and sends a passing and a
// spoofed message through a private Postfix that uses it as its milter.
func TestContainer(t *testing.T) {
	needPodman(t)
	needMTA(t, "postfix", "/usr/sbin/postfix")
	p := newPodman(t)

	// The build context holds only the static binary.
	buildCtx := t.TempDir()
	staticBinary(t, buildCtx)
	const image = "localhost/authmilter:container-test"
	p.must(t, 3*time.Minute, "build", "--pull=never", "-f", "../../docker/Dockerfile",
		"--build-arg", "BIN_STAGE=prebuilt", "-t", image, buildCtx)
	checkImage(t, p, image)

	w := newE2EWorld(t)
	confDir := t.TempDir()
	conf := filepath.Join(confDir, "authmilter.toml")
	body := e2eConfig + fmt.Sprintf("[dns]\nservers = [%q]\ntimeout = \"1s\"\nattempts = 2\n", w.dns.Addr)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	const name = "authmilter-container-test"
	p.run(time.Minute, "rm", "-f", "-t", "0", name) // a leftover of an interrupted run
	p.must(t, 2*time.Minute, "run", "-d", "--name", name, "--network=host",
		"--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges",
		"-v", conf+":/etc/authmilter/authmilter.toml:ro",
		image, "-config", "/etc/authmilter/authmilter.toml", "-listen", "inet:"+addr)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			p.run(time.Minute, "stop", "-t", "5", name)
		}
		if t.Failed() {
			logs, _ := p.run(time.Minute, "logs", name)
			t.Logf("container log:\n%s", logs)
		}
		p.run(time.Minute, "rm", "-f", "-t", "0", name)
		p.run(time.Minute, "rmi", "-f", image)
	})
	waitPort(t, addr, 20*time.Second)
	checkUnprivileged(t, p, name)

	m := startPostfix(t, addr)
	id := func(s string) string { return fmt.Sprintf("<%s.container.%d@e2e.test>", s, time.Now().UnixNano()) }

	t.Run("aligned pass delivered with our A-R", func(t *testing.T) {
		mid := id("pass")
		msg := w.sign(t, message([]string{
			"From: Alice <alice@pass.test>", "To: u@rcpt.test", "Subject: hello",
			"Message-ID: " + mid, "Date: Sun, 22 Nov 2026 10:00:00 +0000",
		}, "Hello from a container.\n"), dkim.CanonicalizationRelaxed)
		s := dialSMTP(t, m, "127.0.0.1", "client.test")
		if r := s.Send(t, "bounce@pass.test", "u@rcpt.test", msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("reply %q, want 250", r)
		}
		got := m.Delivered(t, mid)
		ar := ours(got)
		if len(ar) != 1 {
			t.Fatalf("%d A-R fields with our id, want 1:\n%s", len(ar), got)
		}
		mustContain(t, "A-R", ar[0], "spf=pass", "smtp.mailfrom=bounce@pass.test", "dkim=pass", "header.d=pass.test", "dmarc=pass", "header.from=pass.test")
	})

	t.Run("spoofed p=reject rejected", func(t *testing.T) {
		msg := message([]string{"From: ceo@reject.test", "To: u@rcpt.test", "Subject: pay", "Message-ID: " + id("spoof")}, "Pay now.\n")
		s := dialSMTP(t, m, "127.0.0.1", "client.test")
		r := s.Send(t, "ceo@reject.test", "u@rcpt.test", msg)
		if !strings.HasPrefix(r, "550 5.7.1") || !strings.Contains(r, "reject.test") {
			t.Fatalf("reply %q, want 550 5.7.1 naming reject.test", r)
		}
	})

	// SIGTERM from podman stop reaches the daemon as PID 1 and it exits 0.
	p.must(t, time.Minute, "stop", "-t", "40", name)
	stopped = true
	if code := p.must(t, time.Minute, "inspect", "-f", "{{.State.ExitCode}}", name); code != "0" {
		t.Errorf("container exit code %s after podman stop, want 0", code)
	}
	logs := p.must(t, time.Minute, "logs", name)
	mustContain(t, "container log", logs, "authmilter started", "shutting down", "authmilter stopped")
}

// checkImage checks the final stage: one layer (the binary), the user,
// the port and the entry point of docker/Dockerfile.
func checkImage(t *testing.T, p *podman, image string) {
	t.Helper()
	got := p.must(t, time.Minute, "image", "inspect", "-f",
		"{{.Config.User}}|{{len .RootFS.Layers}}|{{range $k, $v := .Config.ExposedPorts}}{{$k}} {{end}}|{{json .Config.Entrypoint}}|{{.Size}}", image)
	f := strings.Split(got, "|")
	if len(f) != 5 {
		t.Fatalf("podman image inspect: %q", got)
	}
	want := []string{"65534:65534", "1", "8893/tcp ", `["/authmilter","-listen","inet:0.0.0.0:8893"]`}
	for i, w := range want {
		if f[i] != w {
			t.Errorf("image field %d = %q, want %q", i, f[i], w)
		}
	}
	t.Logf("image %s: %s bytes, user %s, one layer", image, f[4], f[0])
}

// checkUnprivileged reads /proc/PID/status of the container's main process:
// uid and gid 65534, no capabilities, no_new_privs.
func checkUnprivileged(t *testing.T, p *podman, name string) {
	t.Helper()
	pid := p.must(t, time.Minute, "inspect", "-f", "{{.State.Pid}}", name)
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			status[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	for k, want := range map[string]string{
		"Name":       "authmilter",
		"Uid":        "65534 65534 65534 65534",
		"Gid":        "65534 65534 65534 65534",
		"CapPrm":     "0000000000000000",
		"CapEff":     "0000000000000000",
		"CapBnd":     "0000000000000000",
		"NoNewPrivs": "1",
	} {
		if status[k] != want {
			t.Errorf("container process %s: %s = %q, want %q", pid, k, status[k], want)
		}
	}
	t.Logf("container process %s: Uid %s, CapEff %s, NoNewPrivs %s", pid, status["Uid"], status["CapEff"], status["NoNewPrivs"])
	// The same as podman reports it.
	if top := p.must(t, time.Minute, "top", name, "user", "comm"); !strings.Contains(top, "65534") {
		t.Errorf("podman top: %q, want user 65534", top)
	}
}
