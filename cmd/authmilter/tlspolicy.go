package main

// The outbound TLS-policy service ([tls_policy]) and the
// "authmilter tls-policy lookup DOMAIN" command.

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/mtasts"
	"github.com/authmilter/authmilter/auth/tlspolicy"
)

// TLSPolicyConfig is the [tls_policy] table.
type TLSPolicyConfig struct {
	// Listen is where Postfix's smtp_tls_policy_maps connects
	// (socketmap): "inet:host:port" or "unix:/path"; "" is off.
	Listen string `toml:"listen"`
	// PostfixVersion selects the answer vocabulary ("3.7": no TLS-RPT
	// attributes, which Postfix < 3.10 refuses).
	PostfixVersion string `toml:"postfix_version"`
	// DANE: DNSSEC-validated TLSA records take precedence over MTA-STS.
	DANE bool `toml:"dane"`
	// OnFailure: "notfound" or "temp", the answer when a domain's MTA-STS
	// policy could not be had and none is cached.
	OnFailure string `toml:"on_failure"`
	// CacheFile keeps the policies across restarts; "" keeps them in
	// memory only.
	CacheFile   string `toml:"cache_file"`
	MaxPolicies int    `toml:"max_policies"`
	// RefreshInterval, RetryInterval, LookupTimeout: see
	// tlspolicy.Config.
	RefreshInterval time.Duration `toml:"refresh_interval"`
	RetryInterval   time.Duration `toml:"retry_interval"`
	LookupTimeout   time.Duration `toml:"lookup_timeout"`
}

func defaultTLSPolicy() TLSPolicyConfig {
	return TLSPolicyConfig{
		PostfixVersion: "3.7", DANE: true, OnFailure: "notfound",
		CacheFile: "/var/lib/authmilter/tls-policy.json", MaxPolicies: 10000,
		RefreshInterval: 24 * time.Hour, RetryInterval: 5 * time.Minute, LookupTimeout: 15 * time.Second,
	}
}

func (c *TLSPolicyConfig) validate() error {
	if c.Listen != "" {
		if _, _, err := parseListen(c.Listen); err != nil {
			return fmt.Errorf("tls_policy.listen: %w", err)
		}
	}
	if _, err := tlspolicy.VocabularyFor(c.PostfixVersion); err != nil {
		return fmt.Errorf("tls_policy.postfix_version: %w", err)
	}
	switch {
	case c.OnFailure != "notfound" && c.OnFailure != "temp":
		return fmt.Errorf("tls_policy.on_failure: must be \"notfound\" or \"temp\", got %q", c.OnFailure)
	case c.MaxPolicies < 1:
		return fmt.Errorf("tls_policy.max_policies: must be at least 1, got %d", c.MaxPolicies)
	case c.RefreshInterval < time.Minute:
		return fmt.Errorf("tls_policy.refresh_interval: must be at least 1m, got %s", c.RefreshInterval)
	case c.RetryInterval <= 0:
		return fmt.Errorf("tls_policy.retry_interval: must be positive, got %s", c.RetryInterval)
	case c.LookupTimeout <= 0 || c.LookupTimeout > 90*time.Second:
		return fmt.Errorf("tls_policy.lookup_timeout: must be between 0 and 90s (Postfix waits 100s), got %s", c.LookupTimeout)
	}
	return nil
}

// newTLSPolicyService builds the service on the daemon's resolver. Policy
// fetches resolve mta-sts.DOMAIN through it too and trust the system's
// roots (Go reads SSL_CERT_FILE and SSL_CERT_DIR on Linux).
func newTLSPolicyService(c TLSPolicyConfig, res *dns.Resolver, readOnly bool, log *slog.Logger, obs tlspolicy.Observer) (*tlspolicy.Service, error) {
	voc, err := tlspolicy.VocabularyFor(c.PostfixVersion)
	if err != nil {
		return nil, err
	}
	store, err := tlspolicy.OpenStore(c.CacheFile, readOnly, c.MaxPolicies)
	if err != nil {
		return nil, fmt.Errorf("tls_policy.cache_file: %w", err)
	}
	cfg := tlspolicy.Config{Vocabulary: voc, DANE: c.DANE, TempOnFailure: c.OnFailure == "temp",
		RefreshInterval: c.RefreshInterval, RetryInterval: c.RetryInterval, LookupTimeout: c.LookupTimeout}
	client := &http.Client{Transport: policyTransport(res)}
	return tlspolicy.New(cfg, res, mtasts.NewFetcher(client), store, log, obs), nil
}

// policyTransport dials the policy host's addresses from res, one after
// the other; no proxy from the environment.
func policyTransport(res *dns.Resolver) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        10,
		IdleConnTimeout:     30 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := res.LookupIP(ctx, "ip", host)
			if err != nil {
				return nil, err
			}
			var errs []error
			for _, ip := range ips {
				c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
				if err == nil {
					return c, nil
				}
				errs = append(errs, err)
			}
			return nil, fmt.Errorf("%s: %w", host, errors.Join(errs...))
		},
	}
}

// tlsPolicyRunner is the running service of the daemon.
type tlsPolicyRunner struct {
	svc    *tlspolicy.Service
	ln     net.Listener
	cancel context.CancelFunc
	done   chan struct{}
}

// startTLSPolicy starts the service when tls_policy.listen is set (nil,
// nil when not). Changes to [tls_policy] apply at a restart.
func startTLSPolicy(c TLSPolicyConfig, res *dns.Resolver, log *slog.Logger, reg *prometheus.Registry) (*tlsPolicyRunner, error) {
	if c.Listen == "" {
		return nil, nil
	}
	log = log.With("component", "tls-policy")
	svc, err := newTLSPolicyService(c, res, false, log, newTLSPolicyMetrics(reg))
	if err != nil {
		return nil, err
	}
	// The socket is reachable by anyone on the host, as an inet loopback
	// port is: the answers are public DNS and HTTPS facts.
	ln, err := listen(c.Listen, "0666", "")
	if err != nil {
		return nil, fmt.Errorf("tls_policy.listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &tlsPolicyRunner{svc: svc, ln: ln, cancel: cancel, done: make(chan struct{})}
	go svc.Run(ctx, time.Minute)
	go func() {
		defer close(r.done)
		if err := svc.Serve(ln); err != nil {
			log.Error("tls policy service stopped", "err", err)
		}
	}()
	log.Info("tls policy service started", "listen", c.Listen, "postfix_version", c.PostfixVersion,
		"dane", c.DANE, "on_failure", c.OnFailure, "cache_file", c.CacheFile)
	return r, nil
}

func (r *tlsPolicyRunner) stop() {
	if r == nil {
		return
	}
	r.cancel()
	r.ln.Close()
	r.svc.Close()
	<-r.done
}

// tlsPolicyMetrics counts answers and fetches on the daemon's registry.
type tlsPolicyMetrics struct {
	answers, fetches *prometheus.CounterVec
}

func newTLSPolicyMetrics(reg *prometheus.Registry) *tlsPolicyMetrics {
	m := &tlsPolicyMetrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authmilter_tls_policy_answers_total",
			Help: "TLS-policy answers to Postfix by kind: dane-only, dane, sts-enforce, sts-testing, sts-none, none, ignored, failure.",
		}, []string{"kind"}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authmilter_tls_policy_fetches_total",
			Help: "MTA-STS policy fetches by result: ok, or the TLS-RPT failure type.",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.answers, m.fetches)
	}
	return m
}

func (m *tlsPolicyMetrics) Answered(kind string)  { m.answers.WithLabelValues(kind).Inc() }
func (m *tlsPolicyMetrics) Fetched(result string) { m.fetches.WithLabelValues(result).Inc() }

const tlsPolicyUsage = `usage: authmilter tls-policy lookup [-config FILE] [-dns SERVERS] DOMAIN
  prints the answer the TLS-policy service would give Postfix for DOMAIN,
  and why. It reads the policy cache (tls_policy.cache_file) but never
  writes it; a policy it fetches is not kept.
`

// runTLSPolicy is "authmilter tls-policy ...".
func runTLSPolicy(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "lookup" {
		fmt.Fprint(stderr, tlsPolicyUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet("tls-policy lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "configuration `file` (TOML); without it the defaults apply")
	servers := fs.String("dns", "", "DNS `servers`, comma-separated host:port (overrides the file)")
	fs.Usage = func() { fmt.Fprint(stderr, tlsPolicyUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	cfg, err := configure(daemonFlags{config: *config, dns: *servers})
	if err != nil {
		fmt.Fprintln(stderr, "authmilter: configuration:", err)
		return 1
	}
	res, err := dns.New(cfg.DNS)
	if err != nil {
		fmt.Fprintln(stderr, "authmilter: dns:", err)
		return 1
	}
	svc, err := newTLSPolicyService(cfg.TLSPolicy, res, true, nil, nil)
	if err != nil {
		fmt.Fprintln(stderr, "authmilter:", err)
		return 1
	}
	voc, _ := tlspolicy.VocabularyFor(cfg.TLSPolicy.PostfixVersion)
	d := svc.Lookup(context.Background(), fs.Arg(0))
	fmt.Fprintf(stdout, "answer: %s\nkind:   %s\n", d.Answer.Format(voc), d.Kind)
	fmt.Fprintf(stdout, "why:\n  %s\n", strings.Join(d.Why, "\n  "))
	return 0
}
