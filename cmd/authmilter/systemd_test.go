package main

// contrib/systemd/authmilter.service as shipped: its sandboxing keys, its
// command lines against our own flag parser, and (where systemd-analyze is
// installed, as .ci/install-mtas.sh makes sure) systemd's own verify and
// offline security score. No systemd runs as PID 1 here, so the unit itself
// is never started (README.md says so).

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const unitPath = "../../contrib/systemd/authmilter.service"

// unit is a parsed systemd unit file: section → key → values in order (a key
// may repeat; an empty assignment is kept as "").
type unit map[string]map[string][]string

// parseUnit reads the systemd.syntax(7) subset that unit files use: sections,
// Key=Value, comments with # or ;, and lines continued with a backslash.
func parseUnit(t *testing.T, r io.Reader) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(r)
	var cont string
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not a Key=Value line in a section: %q", unitPath, n, line)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// last is the value in effect for a key that a later assignment overrides.
func (u unit) last(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

func readUnit(t *testing.T) unit {
	t.Helper()
	f, err := os.Open(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return parseUnit(t, f)
}

// TestSystemdUnitHardening checks that the shipped unit runs the daemon
// unprivileged and sandboxed.
func TestSystemdUnitHardening(t *testing.T) {
	u := readUnit(t)
	svc := u["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	// Who: a transient user, never root, no capabilities, no way back up.
	if v, _ := u.last("Service", "User"); v == "root" || v == "0" {
		t.Errorf("User=%s: the daemon must not run as root", v)
	}
	want := map[string]string{
		"DynamicUser":             "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectHostname":         "yes",
		"ProtectClock":            "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"RestrictNamespaces":      "yes",
		"RestrictRealtime":        "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
		"RuntimeDirectory":        "authmilter",
		"KillSignal":              "SIGTERM",
	}
	for k, w := range want {
		got, ok := u.last("Service", k)
		if !ok {
			t.Errorf("%s= missing; want %s=%s", k, k, w)
		} else if got != w {
			t.Errorf("%s=%s, want %s=%s", k, got, k, w)
		}
	}
	filters := strings.Join(svc["SystemCallFilter"], " | ")
	for _, f := range []string{"@system-service", "~@privileged @resources"} {
		if !strings.Contains(filters, f) {
			t.Errorf("SystemCallFilter %q lacks %q", filters, f)
		}
	}
	// The socket directory is not world-readable.
	if m, _ := u.last("Service", "RuntimeDirectoryMode"); m == "" || m[len(m)-1] != '0' {
		t.Errorf("RuntimeDirectoryMode=%q: others must have no access", m)
	}
}

// TestSystemdUnitCommands checks the unit's command lines against the
// daemon's own flags, reload by SIGHUP, and a stop timeout that leaves the
// daemon's shutdown_timeout room to drain before systemd sends SIGKILL.
func TestSystemdUnitCommands(t *testing.T) {
	u := readUnit(t)
	for _, key := range []string{"ExecStart", "ExecStartPre"} {
		line, ok := u.last("Service", key)
		if !ok {
			t.Errorf("%s= missing", key)
			continue
		}
		args := strings.Fields(strings.TrimLeft(line, "-@:+!"))
		if len(args) == 0 || filepath.Base(args[0]) != "authmilter" {
			t.Errorf("%s=%s: want the authmilter binary", key, line)
			continue
		}
		f, err := parseDaemonFlags(args[1:], io.Discard)
		if err != nil {
			t.Errorf("%s=%s: %v", key, line, err)
			continue
		}
		if f.config == "" {
			t.Errorf("%s=%s: no -config", key, line)
		}
		if key == "ExecStartPre" && !f.checkConfig {
			t.Errorf("ExecStartPre=%s: want -check-config", line)
		}
	}
	if r, _ := u.last("Service", "ExecReload"); !strings.Contains(r, "-HUP") || !strings.Contains(r, "$MAINPID") {
		t.Errorf("ExecReload=%s: want kill -HUP $MAINPID (SIGHUP reloads)", r)
	}
	stop, _ := u.last("Service", "TimeoutStopSec")
	if _, err := strconv.Atoi(stop); err == nil {
		stop += "s" // a bare number is seconds
	}
	d, err := time.ParseDuration(stop)
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", stop, err)
	}
	if def := defaultConfig().ShutdownTimeout; d <= def {
		t.Errorf("TimeoutStopSec=%s is not above the default shutdown_timeout %s: systemd would kill messages in flight", d, def)
	}
}

// needSystemdAnalyze skips without systemd-analyze, unless AUTHMILTER_E2E=1.
func needSystemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("AUTHMILTER_E2E") == "1" {
			t.Fatal("systemd-analyze not installed; run .ci/install-mtas.sh")
		}
		t.Skip("systemd-analyze not installed (Debian package systemd)")
	}
	return p
}

// TestSystemdAnalyze runs systemd's own checks on the unit: verify (with the
// binary path pointed at a freshly built daemon, as verify wants it to
// exist) and the offline security exposure score.
func TestSystemdAnalyze(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon; skipped in -short mode")
	}
	sa := needSystemdAnalyze(t)
	t.Parallel() // systemd-analyze security takes seconds on a busy machine
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	bin := daemonBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "authmilter.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/authmilter", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Lines about other units of the machine are not ours to judge.
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "authmilter") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	} else if len(out) > 0 {
		t.Logf("systemd-analyze verify said, about other units:\n%s", out)
	}
	// Exposure is 0.0 (locked down) to 10.0; --threshold is in tenths.
	out, err = exec.Command(sa, "security", "--offline=yes", "--threshold=20", "--no-pager", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for authmilter\.service: ([0-9.]+ \S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: no overall exposure level (%v):\n%s", err, out)
	}
	t.Logf("systemd-analyze security --offline=yes: exposure %s", m[1])
	if err != nil {
		t.Errorf("systemd-analyze security: exposure %s is above 2.0 (%v):\n%s", m[1], err, out)
	}
}

// TestSystemdUnitPostfixSocket: the unit's recipe for Debian's chrooted
// Postfix holds together. The socket it names lies in a directory that
// ReadWritePaths opens under ProtectSystem=strict, inside Postfix's queue
// directory, and main.cf's smtpd_milters names the same file relative to
// that directory (TestEndToEndPostfixUnixSocket runs the recipe through
// Postfix, chrooted and not). The daemon is in the socket's group.
func TestSystemdUnitPostfixSocket(t *testing.T) {
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	const queue = "/var/spool/postfix/"
	listen := regexp.MustCompile(`(?m)^#\s+listen = "unix:(/\S+)"$`).FindStringSubmatch(text)
	milter := regexp.MustCompile(`(?m)^#\s+smtpd_milters = unix:(\S+)$`).FindStringSubmatch(text)
	if listen == nil || milter == nil {
		t.Fatalf("the unit's comments show no listen = \"unix:...\" and smtpd_milters = unix:... pair")
	}
	if !strings.HasPrefix(listen[1], queue) || strings.TrimPrefix(listen[1], queue) != milter[1] {
		t.Errorf("listen %s and smtpd_milters %s: want the socket in %s, named relative to it", listen[1], milter[1], queue)
	}
	if !strings.Contains(text, `socket_mode = "0660"`) || !strings.Contains(text, `socket_group = "postfix"`) {
		t.Errorf("the recipe lacks socket_mode = \"0660\" and socket_group = \"postfix\"")
	}
	u := readUnit(t)
	if p, _ := u.last("Service", "ProtectSystem"); p != "strict" {
		t.Fatalf("ProtectSystem=%s", p)
	}
	open := false
	for _, v := range u["Service"]["ReadWritePaths"] {
		for _, p := range strings.Fields(v) {
			if strings.TrimPrefix(p, "-") == filepath.Dir(listen[1]) {
				open = true
			}
		}
	}
	if !open {
		t.Errorf("ReadWritePaths %q does not open %s: ProtectSystem=strict would keep the socket out", u["Service"]["ReadWritePaths"], filepath.Dir(listen[1]))
	}
	if g := strings.Join(u["Service"]["SupplementaryGroups"], " "); !strings.Contains(g, "postfix") {
		t.Errorf("SupplementaryGroups=%q: the daemon must be in group postfix to create and hand over the socket", g)
	}
}
