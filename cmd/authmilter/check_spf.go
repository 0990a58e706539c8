package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/spf"
)

// checkSPF is "authmilter check spf": it evaluates SPF for the HELO and
// MAIL FROM identities of one client, as the daemon does, and prints the
// results. Exit status 0 when evaluated (whatever the result), 2 on usage
// errors.
func checkSPF(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("authmilter check spf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ipFlag := fs.String("ip", "", "client IP `address` (required)")
	helo := fs.String("helo", "", "HELO/EHLO `name` (required)")
	mailFrom := fs.String("mail-from", "", "MAIL FROM `address`; empty for the null sender <>")
	server := fs.String("dns", "", "DNS server `HOST:PORT` for all lookups (default: resolv.conf)")
	timeout := fs.Duration("dns-timeout", 0, "timeout of one DNS attempt (default 2s)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: authmilter check spf -ip IP -helo NAME -mail-from ADDR [-dns HOST:PORT] [-dns-timeout DUR] [-json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ip := net.ParseIP(*ipFlag)
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "authmilter check spf: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	case ip == nil:
		fmt.Fprintf(stderr, "authmilter check spf: -ip %q is not an IP address\n", *ipFlag)
		return 2
	case *helo == "":
		fmt.Fprintln(stderr, "authmilter check spf: -helo is required")
		return 2
	case *server != "" && !validServer(*server):
		fmt.Fprintf(stderr, "authmilter check spf: -dns %q is not HOST:PORT\n", *server)
		return 2
	case *timeout < 0:
		fmt.Fprintln(stderr, "authmilter check spf: -dns-timeout must not be negative")
		return 2
	}
	cfg := dns.Config{Timeout: *timeout}
	if *server != "" {
		cfg.Servers = []string{*server}
	}
	r, err := dns.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "authmilter check spf: %v\n", err)
		return 2
	}
	c := &spf.Checker{Resolver: r}
	ctx := context.Background()
	h := c.CheckHelo(ctx, ip, *helo)
	m := c.CheckMailFrom(ctx, ip, *helo, *mailFrom)
	if *asJSON {
		return printSPFJSON(stdout, stderr, m, h)
	}
	printSPFOutcome(stdout, ip, h)
	printSPFOutcome(stdout, ip, m)
	return 0
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

func printSPFOutcome(w io.Writer, ip net.IP, o spf.Outcome) {
	fmt.Fprintf(w, "spf=%s smtp.%s=%s (%s; sender %s, client %s, %d lookups)\n",
		o.Result, identityProperty(o.Identity), o.Domain, o.Reason, o.Sender, ip, o.Lookups)
	if o.Explanation != "" {
		fmt.Fprintf(w, "  explanation: %s\n", o.Explanation)
	}
}

// identityProperty is the Authentication-Results property of an identity
// (RFC 8601 §2.7.2).
func identityProperty(id spf.Identity) string {
	if id == spf.IdentityHelo {
		return "helo"
	}
	return "mailfrom"
}

type spfJSON struct {
	Result      spf.Result   `json:"result"`
	Explanation string       `json:"explanation"`
	Domain      string       `json:"domain"`
	Identity    spf.Identity `json:"identity"`
	Sender      string       `json:"sender"`
	Reason      string       `json:"reason"`
	Lookups     int          `json:"lookups"`
	Helo        spfHeloJSON  `json:"helo"`
}

type spfHeloJSON struct {
	Result spf.Result `json:"result"`
	Domain string     `json:"domain"`
	Reason string     `json:"reason"`
}

func printSPFJSON(stdout, stderr io.Writer, m, h spf.Outcome) int {
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	err := enc.Encode(spfJSON{
		Result: m.Result, Explanation: m.Explanation, Domain: m.Domain,
		Identity: m.Identity, Sender: m.Sender, Reason: m.Reason, Lookups: m.Lookups,
		Helo: spfHeloJSON{Result: h.Result, Domain: h.Domain, Reason: h.Reason},
	})
	if err != nil {
		fmt.Fprintf(stderr, "authmilter check spf: %v\n", err)
		return 1
	}
	return 0
}
