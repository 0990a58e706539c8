package main

import (
	"os"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestContribConfigMatchesStruct keeps contrib/authmilter.toml true: it names
// every key of Config, and its values are exactly the defaults.
func TestContribConfigMatchesStruct(t *testing.T) {
	const path = "../../contrib/authmilter.toml"
	var probe Config
	md, err := toml.DecodeFile(path, &probe)
	if err != nil {
		t.Fatal(err)
	}
	inFile := map[string]bool{}
	for _, k := range md.Keys() {
		inFile[k.String()] = true
	}
	var missing []string
	for _, k := range tomlKeys(reflect.TypeOf(Config{}), "") {
		if !inFile[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("contrib/authmilter.toml lacks keys: %s", strings.Join(missing, ", "))
	}
	got, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	if err := want.validate(); err != nil {
		t.Fatal(err)
	}
	normalize := func(c *Config) {
		// An empty list in the file and a nil default mean the same.
		if len(c.DNS.Servers) == 0 {
			c.DNS.Servers = nil
		}
		if len(c.Policy.TrustedForwarders) == 0 {
			c.Policy.TrustedForwarders = nil
		}
		if len(c.ARC.TrustedSealers) == 0 {
			c.ARC.TrustedSealers = nil
		}
		if len(c.Policy.AllowDomains) == 0 {
			c.Policy.AllowDomains = nil
		}
		if len(c.Policy.RequireSigned) == 0 {
			c.Policy.RequireSigned = nil
		}
		if len(c.OpenPGP.Keyring) == 0 {
			c.OpenPGP.Keyring = nil
		}
		if len(c.TLS.Require) == 0 {
			c.TLS.Require = nil
		}
	}
	normalize(&got)
	normalize(&want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("contrib/authmilter.toml values differ from the defaults:\n file: %+v\n code: %+v", got, want)
	}
}

// tomlKeys lists the dotted TOML keys of a struct type (embedded structs
// flattened, as the decoder does).
func tomlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			keys = append(keys, tomlKeys(f.Type, prefix)...)
			continue
		}
		name := f.Tag.Get("toml")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			keys = append(keys, tomlKeys(f.Type, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct{ file, key string }{
		{"bogus = 1\n", "bogus"},
		{"[dns]\ntimeout = \"soon\"\n", "dns.timeout"},
		{"[dkim]\nmax_signatures = \"ten\"\n", "dkim.max_signatures"},
		{"[dkim]\nmin_rsa_bits = 512\n", "dkim.min_rsa_bits"},
		{"[smime]\nrevocation = \"ldap\"\n", "smime.revocation"},
		{"[smime]\nrevocation_timeout = \"0s\"\n", "smime.revocation_timeout"},
		{"[openpgp]\nwkd = \"yes\"\n", "openpgp.wkd"},
		{"[openpgp]\nwkd_timeout = \"2m\"\n", "openpgp.wkd_timeout"},
		{"trusted_networks = [\"10.0.0.0/33\"]\n", "trusted_networks"},
		{"listen = \"tcp:1\"\n", "listen"},
		{"[policy]\nreject_action = \"bounce\"\n", "policy.reject_action"},
		{"[log]\nformat = \"xml\"\n", "log.format"},
		{"[milter]\nidle_timeout = \"0s\"\n", "milter.idle_timeout"},
		{"[spf]\nmax_lookups = 0\n", "spf.max_lookups"},
		// A duration without a unit would be nanoseconds.
		{"[limits]\nevaluation_timeout = 20\n", "limits.evaluation_timeout"},
		{"[limits]\nevaluation_timeout = \"20\"\n", "limits.evaluation_timeout"},
		{"[spf]\ntimeout = 20\n", "spf.timeout"},
		{"[milter]\nidle_timeout = 600\n", "milter.idle_timeout"},
		{"[dns]\ntimeout = 2\n", "dns.timeout"},
		{"[dns]\ntempfail_ttl = 0\n", "dns.tempfail_ttl"},
		{"shutdown_timeout = 30\n", "shutdown_timeout"},
		{"shutdown_timeout = 1.5\n", "shutdown_timeout"},
		{"socket_mode = \"0668\"\n", "socket_mode"},
		{"socket_mode = \"rw-rw----\"\n", "socket_mode"},
		{"socket_mode = \"\"\n", "socket_mode"},
		{"socket_group = \"mail\"\n", "socket_group"}, // listen is inet
		{"listen = \"unix:/run/a.sock\"\nsocket_group = \"no-such-group-x\"\n", "socket_group"},
		{"[metrics]\nlisten = \"9893\"\n", "metrics.listen"},
		{"[metrics]\nlisten = \"localhost:http\"\n", "metrics.listen"},
		{"[metrics]\npprof = true\n", "metrics.pprof"},
		{"[log]\nlevel = \"verbose\"\n", "debug, info, warn, error"},
		{"[log]\nlevel = \"info+2\"\n", "log.level"},
		{"[policy]\nreject_text = \"DMARC {domian} rejects\"\n", "policy.reject_text"},
		{"[policy]\nfrom_missing_text = \"no From from {domain}\"\n", "policy.from_missing_text"},
	} {
		wantConfigError(t, c.file, c.key)
	}
}

// TestConfigGoodValues: the forms the checks above must not refuse.
func TestConfigGoodValues(t *testing.T) {
	for _, file := range []string{
		"[limits]\nevaluation_timeout = \"1m30s\"\n",
		"[dns]\ntempfail_ttl = \"0s\"\n",
		"socket_mode = \"0600\"\n",
		"listen = \"unix:/run/a.sock\"\nsocket_group = \"0\"\n",
		"listen = \"unix:/run/a.sock\"\nsocket_group = \"root\"\n",
		"[metrics]\nlisten = \"[::1]:9893\"\npprof = true\n",
		"[metrics]\nlisten = \":9893\"\n",
		"[log]\nlevel = \"warn\"\n",
		"[policy]\nreject_text = \"{domain} says no ({domain})\"\nquarantine_text = \"held: {domain}\"\n",
	} {
		if _, err := loadConfigText(t, file); err != nil {
			t.Errorf("%q: %v", file, err)
		}
	}
}

func TestNoConfigFileWorks(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "inet:127.0.0.1:8893" || cfg.AuthservID != "" || cfg.HostName == "" {
		t.Errorf("defaults: listen %q authserv_id %q host name %q", cfg.Listen, cfg.AuthservID, cfg.HostName)
	}
}

func TestParseListen(t *testing.T) {
	for in, want := range map[string]string{
		"inet:127.0.0.1:8893": "tcp 127.0.0.1:8893",
		"inet6:[::1]:8893":    "tcp6 [::1]:8893",
		"unix:/run/a/a.sock":  "unix /run/a/a.sock",
		"inet:8893@127.0.0.1": "tcp 127.0.0.1:8893",
		"local:/run/a/a.sock": "unix /run/a/a.sock",
		"unix:relative.sock":  "error",
		"tcp:127.0.0.1:8893":  "error",
		"inet:127.0.0.1":      "error",
		"":                    "error",
	} {
		n, a, err := parseListen(in)
		got := n + " " + a
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("parseListen(%q) = %q, want %q", in, got, want)
		}
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

// loadConfigText loads a configuration file whose text is text.
func loadConfigText(t *testing.T, text string) (Config, error) {
	t.Helper()
	path := t.TempDir() + "/c.toml"
	if err := writeFile(path, text); err != nil {
		t.Fatal(err)
	}
	return loadConfig(path)
}

// wantConfigError: loading file fails with an error that names key.
func wantConfigError(t *testing.T, file, key string) {
	t.Helper()
	if _, err := loadConfigText(t, file); err == nil || !strings.Contains(err.Error(), key) {
		t.Errorf("%q: error %v does not name %s", file, err, key)
	}
}

// TestReadmeConfigurationTable keeps README's Configuration table true:
// each key of Config is named in the row of its section (as `name`, as a
// pattern such as `from_*_action`, or as `[[key]]` for an array of
// tables) or in full (`policy.arc_override_action`) in another row, and
// each row is a section Config has.
func TestReadmeConfigurationTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // section ("" at the top level) → its keys cell
	_, table, _ := strings.Cut(string(b), "\n| section | keys |\n|---|---|\n")
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| ") || len(cells) < 2 {
			break
		}
		sec := strings.Trim(strings.TrimPrefix(cells[0], "| "), "`[]")
		if sec == "top level" {
			sec = ""
		}
		rows[sec] = strings.Join(cells[1:], " | ")
	}
	if len(rows) < 10 {
		t.Fatalf("README's Configuration table not found (%d rows)", len(rows))
	}
	keys := tomlKeys(reflect.TypeOf(Config{}), "")
	for _, k := range keys {
		sec, name := "", k
		for s := range rows {
			if s != "" && strings.HasPrefix(k, s+".") && len(s) > len(sec) {
				sec, name = s, k[len(s)+1:]
			}
		}
		row, ok := rows[sec]
		if !ok {
			t.Errorf("README's Configuration table has no row for %s", k)
			continue
		}
		if !strings.Contains(row, "`"+name+"`") && !strings.Contains(row, "`[["+k+"]]`") &&
			!matchesPattern(row, name) && !strings.Contains(table, "`"+k+"`") {
			t.Errorf("README's Configuration table does not name %s in its [%s] row", k, sec)
		}
	}
	for sec := range rows {
		if sec != "" && !slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, sec+".") }) {
			t.Errorf("README's Configuration table has a row [%s], which Config does not have", sec)
		}
	}
}

// matchesPattern says whether a `pattern_*` of row covers name.
func matchesPattern(row, name string) bool {
	for _, p := range strings.Split(row, "`")[1:] {
		if ok, _ := path.Match(p, name); ok && strings.Contains(p, "*") {
			return true
		}
	}
	return false
}
