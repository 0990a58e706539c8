package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
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
	// takesFile: the command reads a message from the file named by its
	// one argument, or from stdin without one (or with "-").
	takesFile bool
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
	maxArgs := 0
	if c.takesFile {
		maxArgs = 1
	}
	switch {
	case c.fs.NArg() > maxArgs:
		return c.usageError("unexpected argument %q", c.fs.Arg(maxArgs)), false
	case c.server != "" && !validServer(c.server):
		return c.usageError("-dns %q is not HOST:PORT", c.server), false
	case c.timeout < 0:
		return c.usageError("-dns-timeout must not be negative"), false
	}
	return 0, true
}

// input opens the message: the file named by the argument, or stdin. An
// empty message is a usage error (code 2): evaluating nothing would print
// a verdict about no message at all. Call done when finished.
func (c *checkFlags) input(stdin io.Reader) (msg *bufio.Reader, done func(), code int) {
	name, done := "standard input", func() {}
	if path := c.fs.Arg(0); path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, c.usageError("%v", err)
		}
		name, stdin, done = path, f, func() { f.Close() }
	}
	msg = bufio.NewReaderSize(stdin, 64<<10)
	if _, err := msg.Peek(1); err != nil {
		done()
		if err == io.EOF {
			return nil, nil, c.usageError("no message on %s", name)
		}
		fmt.Fprintf(c.stderr, "%s: reading %s: %v\n", c.name, name, err)
		return nil, nil, 1
	}
	return msg, done, 0
}

// openMessage starts a check command that reads one message and needs
// only -dns and -dns-timeout: it parses args, makes the resolver and opens
// the message (FILE or stdin). A nil msg means: exit with code (0 after -h).
// Call done when finished with msg.
func (c *checkFlags) openMessage(args []string, stdin io.Reader) (r *dns.Resolver, msg *bufio.Reader, done func(), code int) {
	c.takesFile = true
	if code, ok := c.parse(args); !ok {
		return nil, nil, nil, code
	}
	r, err := c.resolver()
	if err != nil {
		return nil, nil, nil, c.usageError("%v", err)
	}
	msg, done, code = c.input(stdin)
	return r, msg, done, code
}

// writeJSON prints v as the -json output of every check command: one
// object on one line (easy to pipe, to jq or to a line-based log), HTML
// characters left as they are.
func (c *checkFlags) writeJSON(stdout io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", c.name, err)
		return 1
	}
	return 0
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
