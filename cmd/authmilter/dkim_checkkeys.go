package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dkim"
)

// signKeyCheckTimeout bounds the DNS lookups of the signing keys at start,
// at reload and in "dkim check-keys".
const signKeyCheckTimeout = 15 * time.Second

// checkSignKeys compares the signing keys of ev with DNS at start and
// reload: each key whose record is missing or differs is a warning, or,
// with dkim.sign_key_check = "refuse", an error that stops the start or
// refuses the reload (a failed lookup stays a warning).
func checkSignKeys(ev *auth.Evaluator, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), signKeyCheckTimeout)
	defer cancel()
	refuse := ev.Config().DKIM.SignKeyCheck == "refuse"
	bad := 0
	for _, c := range ev.CheckSignKeys(ctx) {
		if c.Err == nil {
			log.Info("DKIM signing key matches DNS", "selector", c.Selector, "domain", c.Domain)
			continue
		}
		if !errors.Is(c.Err, dkim.ErrKeyTemporary) {
			bad++ // a failed lookup says nothing about the key: never refused
		}
		log.Warn("DKIM signing key does not match DNS: its signatures will fail", "selector", c.Selector,
			"domain", c.Domain, "file", c.File, "problem", c.Err.Error(), "refuse", refuse)
	}
	if bad > 0 && refuse {
		return fmt.Errorf("dkim.sign_key_check = \"refuse\": %d signing key(s) not published as configured (see the warnings)", bad)
	}
	return nil
}

const checkKeysUsage = "authmilter dkim check-keys [-config FILE] [-dns HOST:PORT] [-dns-timeout D] [-json]"

// runCheckKeys is "authmilter dkim check-keys": every [[dkim.sign]] key of
// the configuration against its DNS record. Exit 0 when all match, 1 when
// one does not (or the configuration fails), 2 for a usage error.
func runCheckKeys(args []string, stdout, stderr io.Writer) int {
	c := newCheckFlags("authmilter dkim check-keys", checkKeysUsage, stderr)
	config := c.fs.String("config", "", "configuration `file` (default: none, so no keys)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		fmt.Fprintln(stderr, "authmilter dkim check-keys: configuration:", err)
		return 1
	}
	c.apply(&cfg.DNS)
	_, ev, err := build(cfg, nil, nil, nil)
	if err != nil {
		fmt.Fprintln(stderr, "authmilter dkim check-keys:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), signKeyCheckTimeout)
	defer cancel()
	checks := ev.CheckSignKeys(ctx)
	type keyJSON struct {
		Selector string `json:"selector"`
		Domain   string `json:"domain"`
		File     string `json:"file"`
		OK       bool   `json:"ok"`
		Problem  string `json:"problem,omitempty"`
	}
	var out []keyJSON
	code := 0
	for _, k := range checks {
		j := keyJSON{Selector: k.Selector, Domain: k.Domain, File: k.File, OK: k.Err == nil}
		if k.Err != nil {
			j.Problem = k.Err.Error()
			code = 1
		}
		out = append(out, j)
	}
	if c.json {
		if r := c.writeJSON(stdout, map[string]any{"keys": out}); r != 0 {
			return r
		}
		return code
	}
	if len(out) == 0 {
		fmt.Fprintln(stdout, "no [[dkim.sign]] keys configured")
	}
	for _, j := range out {
		status := "ok"
		if !j.OK {
			status = "FAIL: " + j.Problem
		}
		fmt.Fprintf(stdout, "%s._domainkey.%s (%s): %s\n", j.Selector, j.Domain, j.File, status)
	}
	return code
}
