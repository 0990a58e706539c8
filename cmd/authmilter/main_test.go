package main

import (
	"bytes"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// TestVersion: -version prints the module and the VCS revision from the
// build information, and the module version when no -X version was set.
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-version"}, nil, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, want := range []string{"authmilter ", "\nmodule:   ", "\nrevision: ", "\ngo:       go1."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-version lacks %q:\n%s", want, out.String())
		}
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/authmilter/authmilter", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "7553386abc"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	want := "authmilter v1.4.0\nmodule:   github.com/authmilter/authmilter v1.4.0\nrevision: 7553386abc 2026-12-01T10:00:00Z (modified)\ngo:       go1.26.8\n"
	if got := versionText("dev", bi); got != want {
		t.Errorf("versionText:\n%s\nwant:\n%s", got, want)
	}
	if got := versionText("2.0-rc1", bi); !strings.HasPrefix(got, "authmilter 2.0-rc1\n") {
		t.Errorf("an -X version is kept: %s", got)
	}
}

// TestHelpListsCheckCommands: -h and a bare "check" name the check commands.
func TestHelpListsCheckCommands(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{{[]string{"-h"}, 0}, {[]string{"check"}, 2}, {[]string{"check", "-h"}, 0}, {[]string{"check", "nope"}, 2}} {
		var out bytes.Buffer
		if code := run(c.args, nil, &out, &out); code != c.code {
			t.Errorf("%q: exit %d, want %d", c.args, code, c.code)
		}
		for _, want := range []string{"check spf", "check dkim", "check message"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%q: output lacks %q:\n%s", c.args, want, out.String())
			}
		}
	}
}

// TestHelpListsReportsCommands: "authmilter -h" names every subcommand
// that "authmilter reports -h" documents, and each one exists.
func TestHelpListsReportsCommands(t *testing.T) {
	var help bytes.Buffer
	run([]string{"-h"}, nil, &help, &help)
	var line string
	for _, l := range strings.Split(help.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "authmilter reports ") {
			line = strings.Fields(l)[2]
		}
	}
	listed := strings.Split(line, "|")
	seen := 0
	for _, l := range strings.Split(reportsUsage, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "authmilter" || f[1] != "reports" {
			continue
		}
		seen++
		if !slices.Contains(listed, f[2]) {
			t.Errorf("authmilter -h lists reports %q, not %q", line, f[2])
		}
		var out bytes.Buffer
		if code := run([]string{"reports", f[2], "-h"}, nil, &out, &out); code != 0 {
			t.Errorf("reports %s -h: exit %d\n%s", f[2], code, out.String())
		}
	}
	if seen < 6 {
		t.Errorf("reports usage names %d subcommands:\n%s", seen, reportsUsage)
	}
}

// TestCheckInputFileAndEmpty: check dkim, check arc and check message read
// a file argument as well as stdin ("-"); an empty message is a usage error.
func TestCheckInputFileAndEmpty(t *testing.T) {
	msg, srv := dkimTestMessage(t)
	path := t.TempDir() + "/m.eml"
	if err := os.WriteFile(path, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir() + "/empty.eml"
	os.WriteFile(empty, nil, 0o644)
	dns := []string{"-dns", srv.Addr, "-dns-timeout", "500ms"}
	env := []string{"-ip", "192.0.2.1", "-helo", "client.test", "-mail-from", "joe@example.com"}
	for _, c := range []struct {
		args  []string
		stdin string
		code  int
		want  string
	}{
		{append([]string{"check", "dkim", "-json"}, append(dns, path)...), "", 0, `"result":"pass"`},
		{append([]string{"check", "dkim"}, append(dns, "-")...), msg, 0, "dkim=pass"},
		{append([]string{"check", "dkim"}, dns...), "", 2, "no message on standard input"},
		{append([]string{"check", "dkim"}, append(dns, empty)...), "", 2, "no message on " + empty},
		{append([]string{"check", "dkim"}, append(dns, path, path)...), "", 2, "unexpected argument"},
		{append([]string{"check", "arc", "-json"}, append(dns, path)...), "", 0, `"result":"none"`},
		{append([]string{"check", "arc"}, append(dns, "-")...), msg, 0, "arc=none"},
		{append([]string{"check", "arc"}, dns...), "", 2, "no message on standard input"},
		{append([]string{"check", "arc"}, append(dns, t.TempDir()+"/missing")...), "", 2, "no such file"},
		{[]string{"check", "arc", "-dns", "nonsense"}, msg, 2, "is not HOST:PORT"},
		{[]string{"check", "arc", "-h"}, "", 0, "usage: authmilter check arc"},
		{append([]string{"check", "message", "-json"}, append(append(dns, env...), path)...), "", 0, `"dkim":[`},
		{append([]string{"check", "message"}, append(dns, env...)...), "", 2, "no message on standard input"},
		{append([]string{"check", "message"}, append(append(dns, env...), t.TempDir()+"/missing")...), "", 2, "no such file"},
	} {
		var out bytes.Buffer
		code := run(c.args, strings.NewReader(c.stdin), &out, &out)
		if code != c.code || !strings.Contains(out.String(), c.want) {
			t.Errorf("%q: exit %d (want %d), output lacks %q:\n%s", c.args, code, c.code, c.want, out.String())
		}
	}
}

// TestCheckJSONStyle: every check command prints its -json object the same
// way: one object on one line, with HTML characters as they are.
func TestCheckJSONStyle(t *testing.T) {
	msg, srv := dkimTestMessage(t)
	for _, args := range [][]string{
		{"check", "spf", "-json", "-dns", srv.Addr, "-ip", "192.0.2.1", "-helo", "client.test", "-mail-from", "a<b>@example.com"},
		{"check", "dkim", "-json", "-dns", srv.Addr},
		{"check", "message", "-json", "-dns", srv.Addr, "-ip", "192.0.2.1", "-helo", "client.test", "-mail-from", "a<b>@example.com"},
	} {
		var out bytes.Buffer
		if code := run(args, strings.NewReader(msg), &out, &out); code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, out.String())
		}
		if s := out.String(); !strings.HasPrefix(s, "{\"") || strings.Count(s, "\n") != 1 || strings.Contains(s, `\u003c`) {
			t.Errorf("%q: not the common JSON style:\n%s", args[1], s)
		}
	}
}
