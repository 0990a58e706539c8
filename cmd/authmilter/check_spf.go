package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/authmilter/authmilter/auth/spf"
)

// checkSPF is "authmilter check spf": it evaluates SPF for the HELO and
// MAIL FROM identities of one client, as the daemon does, and prints the
// results. Exit status 0 when evaluated (whatever the result), 2 on usage
// errors.
func checkSPF(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newCheckFlags("authmilter check spf",
		"authmilter check spf -ip IP -helo NAME -mail-from ADDR [-dns HOST:PORT] [-dns-timeout DUR] [-json]", stderr)
	ef := f.addEnvelope()
	if code, ok := f.parse(args); !ok {
		return code
	}
	ip, code := ef.check(f)
	if code != 0 {
		return code
	}
	r, err := f.resolver()
	if err != nil {
		return f.usageError("%v", err)
	}
	c := &spf.Checker{Resolver: r}
	ctx := context.Background()
	h := c.CheckHelo(ctx, ip, ef.helo)
	m := c.CheckMailFrom(ctx, ip, ef.helo, ef.mailFrom)
	if f.json {
		return printSPFJSON(f, stdout, m, h)
	}
	printSPFOutcome(stdout, ip, h)
	printSPFOutcome(stdout, ip, m)
	return 0
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

func printSPFJSON(f *checkFlags, stdout io.Writer, m, h spf.Outcome) int {
	return f.writeJSON(stdout, spfJSON{
		Result: m.Result, Explanation: m.Explanation, Domain: m.Domain,
		Identity: m.Identity, Sender: m.Sender, Reason: m.Reason, Lookups: m.Lookups,
		Helo: spfHeloJSON{Result: h.Result, Domain: h.Domain, Reason: h.Reason},
	})
}
