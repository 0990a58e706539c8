package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/milter"
)

// Config is the whole configuration file. Every key, with its default and
// meaning, is in contrib/authmilter.toml; a test keeps the two in step.
type Config struct {
	// Listen is where the MTA connects: "inet:host:port", "inet6:[addr]:port"
	// or "unix:/path".
	Listen string `toml:"listen"`
	// SocketMode is the permission of a unix socket, in octal.
	SocketMode string `toml:"socket_mode"`
	// SocketGroup is the group (name or number) a unix socket is given, so
	// that the MTA's group can connect; "" leaves the daemon's group.
	SocketGroup string `toml:"socket_group"`
	// ShutdownTimeout bounds how long SIGTERM waits for messages in flight.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`

	auth.Config // authserv_id, trusted_networks, [spf], [dkim], [dmarc], [policy], [limits]

	DNS     dns.Config    `toml:"dns"` // validated by dns.Config.Validate
	Milter  milter.Config `toml:"milter"`
	Log     LogConfig     `toml:"log"`
	Metrics MetricsConfig `toml:"metrics"`
	Reports ReportsConfig `toml:"reports"`
	// TLSPolicy is the outbound TLS-policy service for Postfix (tlspolicy.go).
	TLSPolicy TLSPolicyConfig `toml:"tls_policy"`
}

// LogConfig is the [log] table.
type LogConfig struct {
	Format string `toml:"format"` // "text" or "json"
	Level  string `toml:"level"`  // "debug", "info", "warn", "error"
}

// MetricsConfig is the [metrics] table.
type MetricsConfig struct {
	// Listen is host:port for /metrics and /healthz; empty: off.
	Listen string `toml:"listen"`
	// Pprof also serves Go's profiler (net/http/pprof) under /debug/pprof/
	// on Listen. Off by default: profiles show message timing.
	Pprof bool `toml:"pprof"`
}

// defaultConfig is the configuration with no file at all.
func defaultConfig() Config {
	c := Config{
		Listen:          "inet:127.0.0.1:8893",
		SocketMode:      "0660",
		ShutdownTimeout: 30 * time.Second,
		Config:          auth.DefaultConfig(),
		DNS:             dns.DefaultConfig(),
		Milter:          milter.DefaultConfig(),
		Log:             LogConfig{Format: "text", Level: "info"},
		TLSPolicy:       defaultTLSPolicy(),
	}
	c.Reports = defaultReports()
	return c
}

// loadConfig reads path over the defaults ("" means no file). Unknown keys
// and bad values are errors that name the key.
func loadConfig(path string) (Config, error) {
	cfg := defaultConfig()
	if path != "" {
		md, err := toml.DecodeFile(path, &cfg)
		if err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				if pe.LastKey != "" {
					return cfg, fmt.Errorf("%s: line %d: %s: %s", path, pe.Position.Line, pe.LastKey, pe.Message)
				}
				return cfg, fmt.Errorf("%s: line %d: %s", path, pe.Position.Line, pe.Message)
			}
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
		if err := checkDurations(md, reflect.TypeOf(cfg)); err != nil {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			keys := make([]string, len(und))
			for i, k := range und {
				keys[i] = k.String()
				if why := removedKey(keys[i]); why != "" {
					return cfg, fmt.Errorf("%s: %s: %s", path, keys[i], why)
				}
			}
			return cfg, fmt.Errorf("%s: unknown key %s", path, strings.Join(keys, ", "))
		}
	}
	return cfg, cfg.validate()
}

func (c *Config) validate() error {
	if _, _, err := parseListen(c.Listen); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if _, err := parseMode(c.SocketMode); err != nil {
		return fmt.Errorf("socket_mode: %w", err)
	}
	if c.SocketGroup != "" {
		if !strings.HasPrefix(c.Listen, "unix:") && !strings.HasPrefix(c.Listen, "local:") {
			return fmt.Errorf("socket_group: applies to a unix socket only, but listen is %q", c.Listen)
		}
		if _, err := lookupGroup(c.SocketGroup); err != nil {
			return fmt.Errorf("socket_group: %w", err)
		}
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("shutdown_timeout: must be positive, got %s", c.ShutdownTimeout)
	}
	if c.HostName == "" {
		c.HostName = hostFQDN()
	}
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.DNS.Validate(); err != nil {
		return err
	}
	if err := c.Milter.Validate(); err != nil {
		return err
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: must be \"text\" or \"json\", got %q", c.Log.Format)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	if c.Metrics.Listen != "" {
		if err := checkHostPort(c.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics.listen: %w", err)
		}
	} else if c.Metrics.Pprof {
		return fmt.Errorf("metrics.pprof: needs metrics.listen")
	}
	if err := c.Reports.validate(); err != nil {
		return err
	}
	return c.TLSPolicy.validate()
}

// checkHostPort accepts "host:port" and "[v6addr]:port" with a numeric port
// from 1 to 65535 (an empty host, ":9893", listens on every address).
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	return nil
}

// checkDurations refuses a duration key given as a TOML number: the decoder
// would read evaluation_timeout = 20 as 20 nanoseconds. Every time.Duration
// field reachable from typ is covered, whichever section it is in.
func checkDurations(md toml.MetaData, typ reflect.Type) error {
	for _, key := range durationKeys(typ, nil) {
		if t := md.Type(key...); t != "" && t != "String" {
			name := strings.Join(key, ".")
			return fmt.Errorf("%s: a duration needs a unit and quotes, such as \"20s\" or \"500ms\" (got a bare %s)", name, strings.ToLower(t))
		}
	}
	return nil
}

// durationKeys lists the TOML keys of the time.Duration fields of a struct
// type, embedded structs flattened as the decoder does.
func durationKeys(t reflect.Type, prefix []string) [][]string {
	var keys [][]string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		switch {
		case !f.IsExported():
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			keys = append(keys, durationKeys(f.Type, prefix)...)
		case f.Tag.Get("toml") == "" || f.Tag.Get("toml") == "-":
		case f.Type == reflect.TypeFor[time.Duration]():
			keys = append(keys, append(slices.Clone(prefix), f.Tag.Get("toml")))
		case f.Type.Kind() == reflect.Struct:
			keys = append(keys, durationKeys(f.Type, append(slices.Clone(prefix), f.Tag.Get("toml")))...)
		}
	}
	return keys
}

// removedKey says what replaced a key the configuration had once, or "".
func removedKey(key string) string {
	switch key {
	case "dns.cache_size":
		return "removed: the DNS cache is bounded by memory, dns.cache_bytes " +
			"(default 67108864, 64 MiB); dns.cache = false turns it off"
	}
	return ""
}

// parseMode reads an octal file mode such as "0660": octal digits only, at
// most 0777.
func parseMode(s string) (os.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%q is not an octal mode like \"0660\"", s)
	}
	return os.FileMode(m), nil
}

// lookupGroup returns the group id of a group name or number.
func lookupGroup(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a known group", s)
	}
	return strconv.Atoi(g.Gid)
}
