package main

// The container image test: docker/Dockerfile built with podman (the final
// stage FROM scratch, the binary compiled here because no Go image can be
// pulled), run with runc next to the private Postfix of the end-to-end tests.
// docker/README.md says what it proves and what it does not.

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// needPodman skips the test when podman or runc is missing, unless
// AUTHMILTER_E2E=1, where it fails.
func needPodman(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("container test skipped in -short mode")
	}
	if os.Getenv("AUTHMILTER_E2E") != "1" {
		t.Skip("container test: set AUTHMILTER_E2E=1 to run it (root, .ci/install-mtas.sh)")
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

// containersConf is what podman needs on these machines (no systemd, hybrid
// cgroups, where crun fails):
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
	t.Parallel()
	p := newPodman(t)

	// The build context holds only the static binary.
	buildCtx := t.TempDir()
	staticBinary(t, buildCtx)
	const image = "localhost/authmilter:container-test"
	p.must(t, 3*time.Minute, "build", "--pull=never", "-f", "../../docker/Dockerfile",
		"--build-arg", "BIN_STAGE=prebuilt", "-t", image, buildCtx)
	checkImage(t, p, image)

	// Without BIN_STAGE the build stage must be the one chosen: buildah 1.28
	// once skipped it and failed with "build: image not known". No Go image
	// exists here, so the build stops at pulling it, by name.
	out, err := p.run(time.Minute, "build", "--pull=never", "-f", "../../docker/Dockerfile",
		"--build-arg", "GO_IMAGE=localhost/authmilter-no-such-go:test", buildCtx)
	if err == nil || !strings.Contains(out, "authmilter-no-such-go") {
		t.Errorf("default build: want a failure at the missing GO_IMAGE, got %v:\n%s", err, out)
	}

	w := newE2EWorld(t)
	confDir := t.TempDir()
	conf := filepath.Join(confDir, "authmilter.toml")
	body := e2eConfig + fmt.Sprintf("[dns]\nservers = [%q]\ntimeout = \"1s\"\nattempts = 2\n", w.dns.Addr)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	const name = "authmilter-container-test"
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

	t.Run("aligned pass delivered with our A-R", func(t *testing.T) { checkAlignedPass(t, w, m, id("pass")) })
	t.Run("spoofed p=reject rejected", func(t *testing.T) { checkSpoofRejected(t, m, id("spoof")) })

	t.Run("default entry point listens on 0.0.0.0:8893", func(t *testing.T) {
		checkDefaultListen(t, p, image)
	})

	// SIGHUP reaches PID 1 in the container and reloads the mounted file.
	p.must(t, time.Minute, "kill", "-s", "HUP", name)
	deadline := time.Now().Add(15 * time.Second)
	for {
		logs, _ := p.run(time.Minute, "logs", name)
		if strings.Contains(logs, "configuration reloaded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"configuration reloaded\" in the container log 15s after SIGHUP:\n%s", logs)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// SIGTERM from podman stop reaches the daemon as PID 1 and it exits 0.
	p.must(t, time.Minute, "stop", "-t", "40", name)
	stopped = true
	if code := p.must(t, time.Minute, "inspect", "-f", "{{.State.ExitCode}}", name); code != "0" {
		t.Errorf("container exit code %s after podman stop, want 0", code)
	}
	logs := p.must(t, time.Minute, "logs", name)
	mustContain(t, "container log", logs, "authmilter started", "configuration reloaded", "shutting down", "authmilter stopped")
}

// checkDefaultListen runs the image with its own entry point unchanged (as
// compose.yaml does) in a network namespace of its own, so that port 8893
// cannot clash with anything on the host, and finds its listening socket in
// /proc/PID/net/tcp, which shows the sockets of the process's namespace.
func checkDefaultListen(t *testing.T, p *podman, image string) {
	const name = "authmilter-container-test-default"
	// -dns only because a namespace without a network has no resolv.conf servers.
	p.must(t, 2*time.Minute, "run", "-d", "--name", name, "--network=none", "--read-only", "--cap-drop=ALL",
		image, "-dns", "127.0.0.1:53")
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := p.run(time.Minute, "logs", name)
			t.Logf("container log:\n%s", logs)
		}
		p.run(time.Minute, "rm", "-f", "-t", "0", name)
	})
	pid := p.must(t, time.Minute, "inspect", "-f", "{{.State.Pid}}", name)
	// Go listens on 0.0.0.0 with a dual-stack IPv6 socket where it can.
	port := fmt.Sprintf(":%04X", 8893)
	want := map[string]string{"tcp": "00000000" + port, "tcp6": "00000000000000000000000000000000" + port}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var seen []byte
		for file, local := range want {
			b, err := os.ReadFile("/proc/" + pid + "/net/" + file)
			if err != nil {
				continue // no IPv6 in the kernel: no tcp6
			}
			seen = append(seen, b...)
			for _, line := range strings.Split(string(b), "\n")[1:] {
				f := strings.Fields(line)
				if len(f) > 3 && f[1] == local && f[3] == "0A" { // 0A: LISTEN
					t.Logf("container %s listens on %s (/proc/%s/net/%s)", name, local, pid, file)
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket listening on 0.0.0.0:8893 in the container after 15s:\n%s", seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
	ls, _ := p.run(time.Minute, "image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}", image)
	t.Logf("image %s: %s bytes (podman image ls: %s), user %s, one layer", image, f[4], ls, f[0])
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

// composeFile is the part of docker/compose.yaml the test checks.
type composeFile struct {
	Services map[string]struct {
		Build struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image           string            `yaml:"image"`
		Entrypoint      []string          `yaml:"entrypoint"`
		Command         []string          `yaml:"command"`
		Environment     map[string]string `yaml:"environment"`
		Volumes         []string          `yaml:"volumes"`
		ReadOnly        bool              `yaml:"read_only"`
		CapDrop         []string          `yaml:"cap_drop"`
		SecurityOpt     []string          `yaml:"security_opt"`
		StopGracePeriod string            `yaml:"stop_grace_period"`
		Expose          []string          `yaml:"expose"`
		DependsOn       []string          `yaml:"depends_on"`
	} `yaml:"services"`
}

// TestComposeFiles checks docker/compose.yaml against what it refers to,
// as no compose engine runs here: the files it mounts exist, the authmilter
// command and docker/authmilter.toml pass the daemon's own flag and
// configuration checks, the stop grace period covers shutdown_timeout, and
// docker/postfix-milter.sh (run on a scratch Postfix configuration, where
// postconf is installed) points Postfix's smtpd_milters at the authmilter
// service on the port the Dockerfile exposes.
func TestComposeFiles(t *testing.T) {
	t.Parallel() // runs postconf a dozen times
	const dir = "../../docker"
	b, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	am, ok := c.Services["authmilter"]
	if !ok {
		t.Fatal("compose.yaml: no authmilter service")
	}
	pf, ok := c.Services["postfix"]
	if !ok {
		t.Fatal("compose.yaml: no postfix service")
	}
	if got := filepath.Join(dir, am.Build.Context, am.Build.Dockerfile); filepath.Clean(got) != filepath.Clean(filepath.Join(dir, "Dockerfile")) {
		t.Errorf("authmilter builds %s, want docker/Dockerfile", got)
	}
	if !am.ReadOnly || strings.Join(am.CapDrop, ",") != "ALL" || !slices.Contains(am.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("authmilter: read_only %v, cap_drop %v, security_opt %v; want true, [ALL], no-new-privileges", am.ReadOnly, am.CapDrop, am.SecurityOpt)
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
				t.Errorf("%s mounts %s: %v", name, src, err)
			}
		}
	}

	// The daemon's command line: the image's entry point, then command.
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])$`).FindSubmatch(df)
	if m == nil {
		t.Fatal("Dockerfile: no ENTRYPOINT in exec form")
	}
	var entry []string
	if err := json.Unmarshal(m[1], &entry); err != nil {
		t.Fatalf("Dockerfile ENTRYPOINT: %v", err)
	}
	f, err := parseDaemonFlags(append(entry[1:], am.Command...), io.Discard)
	if err != nil {
		t.Fatalf("authmilter command %q: %v", append(entry, am.Command...), err)
	}
	conf := ""
	for _, v := range am.Volumes {
		src, rest, _ := strings.Cut(v, ":")
		if dst, _, _ := strings.Cut(rest, ":"); dst == f.config {
			conf = filepath.Join(dir, src)
		}
	}
	if conf == "" {
		t.Fatalf("-config %s is not mounted", f.config)
	}
	f.config = conf
	cfg, err := configure(f)
	if err != nil {
		t.Fatalf("authmilter configuration: %v", err)
	}
	_, listenAddr, _ := parseListen(cfg.Listen)
	_, port, _ := net.SplitHostPort(listenAddr)
	if !regexp.MustCompile(`(?m)^EXPOSE `+port+`$`).Match(df) || !slices.Contains(am.Expose, port) {
		t.Errorf("listen %s: port %s not exposed by the Dockerfile and compose.yaml", cfg.Listen, port)
	}
	grace, err := time.ParseDuration(am.StopGracePeriod)
	if err != nil || grace <= cfg.ShutdownTimeout {
		t.Errorf("stop_grace_period %q must exceed shutdown_timeout %s", am.StopGracePeriod, cfg.ShutdownTimeout)
	}

	// Postfix: the wrapper script on a scratch configuration directory.
	wantMilter := "inet:authmilter:" + port
	if pf.Environment["AUTHMILTER_MILTER"] != wantMilter || !slices.Contains(pf.DependsOn, "authmilter") {
		t.Errorf("postfix: AUTHMILTER_MILTER %q, depends_on %v; want %s and authmilter", pf.Environment["AUTHMILTER_MILTER"], pf.DependsOn, wantMilter)
	}
	if _, err := exec.LookPath("postconf"); err != nil {
		t.Skip("postconf not installed; the Postfix wrapper script is not run")
	}
	pdir := t.TempDir()
	for _, n := range []string{"main.cf", "master.cf"} {
		if err := os.WriteFile(filepath.Join(pdir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", filepath.Join(dir, "postfix-milter.sh"), "echo", "started")
	cmd.Env = append(os.Environ(), "MAIL_CONFIG="+pdir, "AUTHMILTER_MILTER="+wantMilter,
		"AUTHMILTER_SNIPPET=../../contrib/postfix/main.cf")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), "started\n") {
		t.Fatalf("postfix-milter.sh: %v\n%s", err, out)
	}
	for k, want := range map[string]string{
		"smtpd_milters":         wantMilter,
		"non_smtpd_milters":     "",
		"milter_default_action": "tempfail",
		"milter_protocol":       "6",
		"milter_mail_macros":    "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}",
	} {
		got, err := exec.Command("postconf", "-c", pdir, "-h", k).Output()
		if err != nil {
			t.Fatalf("postconf -h %s: %v", k, err)
		}
		if strings.TrimSpace(string(got)) != want {
			t.Errorf("after postfix-milter.sh: %s = %q, want %q", k, strings.TrimSpace(string(got)), want)
		}
	}
}
