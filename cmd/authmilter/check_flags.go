package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
)

// checkFlags are the flags and the usage handling that every
// "authmilter check ..." command shares: -dns, -dns-timeout and -json.
type checkFlags struct {
	name    string // "authmilter check spf"
	fs      *flag.FlagSet
	stderr  io.Writer
	server  string
	timeout time.Duration
	json    bool
}

func newCheckFlags(name, usage string, stderr io.Writer) *checkFlags {
	c := &checkFlags{name: name, fs: flag.NewFlagSet(name, flag.ContinueOnError), stderr: stderr}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.server, "dns", "", "DNS server `HOST:PORT` for all lookups (default: resolv.conf)")
	c.fs.DurationVar(&c.timeout, "dns-timeout", 0, "timeout of one DNS attempt (default 2s)")
	c.fs.BoolVar(&c.json, "json", false, "print one JSON object")
	c.fs.Usage = func() {
		fmt.Fprintln(stderr, "usage:", usage)
		c.fs.PrintDefaults()
	}
	return c
}

// parse parses args; when it returns false the command exits with code
// (0 for -h, 2 for a usage error, reported on stderr).
func (c *checkFlags) parse(args []string) (code int, ok bool) {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	switch {
	case c.fs.NArg() > 0:
		return c.usageError("unexpected argument %q", c.fs.Arg(0)), false
	case c.server != "" && !validServer(c.server):
		return c.usageError("-dns %q is not HOST:PORT", c.server), false
	case c.timeout < 0:
		return c.usageError("-dns-timeout must not be negative"), false
	}
	return 0, true
}

// envelopeFlags are -ip, -helo and -mail-from, for the checks that need an
// SMTP envelope.
type envelopeFlags struct {
	ip       string
	helo     string
	mailFrom string
}

// addEnvelope registers -ip, -helo and -mail-from.
func (c *checkFlags) addEnvelope() *envelopeFlags {
	e := &envelopeFlags{}
	c.fs.StringVar(&e.ip, "ip", "", "client IP `address` (required)")
	c.fs.StringVar(&e.helo, "helo", "", "HELO/EHLO `name` (required)")
	c.fs.StringVar(&e.mailFrom, "mail-from", "", "MAIL FROM `address`; empty for the null sender <>")
	return e
}

// check validates the envelope flags after parse; a non-zero code is the
// exit status of a usage error.
func (e *envelopeFlags) check(c *checkFlags) (net.IP, int) {
	ip := net.ParseIP(e.ip)
	switch {
	case ip == nil:
		return nil, c.usageError("-ip %q is not an IP address", e.ip)
	case e.helo == "":
		return nil, c.usageError("-helo is required")
	}
	return ip, 0
}

// usageError reports a usage problem and returns exit code 2.
func (c *checkFlags) usageError(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.name, fmt.Sprintf(format, args...))
	return 2
}

// apply puts -dns and -dns-timeout into a resolver configuration.
func (c *checkFlags) apply(cfg *dns.Config) {
	if c.server != "" {
		cfg.Servers = []string{c.server}
	}
	if c.timeout > 0 {
		cfg.Timeout = c.timeout
	}
}

// resolver is a resolver with only -dns and -dns-timeout applied.
func (c *checkFlags) resolver() (*dns.Resolver, error) {
	var cfg dns.Config
	c.apply(&cfg)
	return dns.New(cfg)
}

// validServer accepts HOST:PORT, or an IP address alone (port 53).
func validServer(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return net.ParseIP(strings.Trim(s, "[]")) != nil
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536 && host != "" && !strings.ContainsAny(host, " /")
}
