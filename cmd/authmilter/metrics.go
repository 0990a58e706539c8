package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/milter"
)

// metrics implements milter.Observer with Prometheus collectors on a
// registry of its own (no global state).
type metrics struct {
	reg      *prometheus.Registry
	res      atomic.Pointer[dns.Resolver]
	messages *prometheus.CounterVec
	results  *prometheus.CounterVec
	eom      prometheus.Histogram
	active   prometheus.Gauge
	reloads  prometheus.Counter
}

func newMetrics(res *dns.Resolver) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authmilter_messages_total", Help: "Messages by final action.",
		}, []string{"action"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authmilter_results_total", Help: "Results by method (spf, dkim, dmarc) and result word.",
		}, []string{"method", "result"}),
		eom: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authmilter_eom_latency_seconds",
			Help:    "Time from end of message to the final reply.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authmilter_sessions_active", Help: "Open milter connections.",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authmilter_config_reloads_total", Help: "Configuration reloads requested (SIGHUP).",
		}),
	}
	m.res.Store(res)
	m.reg.MustRegister(m.messages, m.results, m.eom, m.active, m.reloads, dnsCollector{m},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

var _ milter.Observer = (*metrics)(nil)

func (m *metrics) SessionOpened() { m.active.Inc() }
func (m *metrics) SessionClosed() { m.active.Dec() }
func (m *metrics) reloaded()      { m.reloads.Inc() }

func (m *metrics) setResolver(r *dns.Resolver) { m.res.Store(r) }

func (m *metrics) MessageDone(r *auth.Report, action string, eom time.Duration) {
	m.messages.WithLabelValues(action).Inc()
	m.eom.Observe(eom.Seconds())
	if r.Skipped != "" {
		return
	}
	m.results.WithLabelValues("spf", string(r.SPF.Result)).Inc()
	for _, d := range r.DKIM {
		m.results.WithLabelValues("dkim", d.Result).Inc()
	}
	m.results.WithLabelValues("dmarc", r.DMARC.Result).Inc()
}

// serve starts the HTTP endpoint for /metrics and /healthz when addr is set,
// with /debug/pprof/ when withPprof is.
func (m *metrics) serve(addr string, withPprof bool, srv *milter.Server, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	}, nil
}

// dnsCollector exports the resolver's Stats at scrape time.
type dnsCollector struct{ m *metrics }

var (
	descHits      = prometheus.NewDesc("authmilter_dns_cache_hits_total", "DNS lookups answered from the cache.", nil, nil)
	descMisses    = prometheus.NewDesc("authmilter_dns_cache_misses_total", "DNS lookups not answered from the cache.", nil, nil)
	descCoalesced = prometheus.NewDesc("authmilter_dns_coalesced_total", "DNS misses that joined an identical lookup in flight.", nil, nil)
	descUpstream  = prometheus.NewDesc("authmilter_dns_upstream_total", "Upstream DNS exchanges by outcome.", []string{"rcode"}, nil)
	descLatency   = prometheus.NewDesc("authmilter_dns_upstream_latency_seconds", "Upstream DNS exchange time.", nil, nil)
	descEntries   = prometheus.NewDesc("authmilter_dns_cache_entries", "DNS answers in the cache.", nil, nil)
	descBytes     = prometheus.NewDesc("authmilter_dns_cache_bytes", "Memory of the DNS answers in the cache, as counted against dns.cache_bytes.", nil, nil)
	descDropped   = prometheus.NewDesc("authmilter_dns_cache_dropped_total", "DNS answers dropped from the cache: \"evicted\" for room, \"expired\" at their TTL, \"too_big\" never kept (over dns.cache_max_answer_bytes).", []string{"reason"}, nil)
)

func (c dnsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHits
	ch <- descMisses
	ch <- descCoalesced
	ch <- descUpstream
	ch <- descLatency
	ch <- descEntries
	ch <- descBytes
	ch <- descDropped
}

func (c dnsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.res.Load().Stats()
	ch <- prometheus.MustNewConstMetric(descHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(descMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(descCoalesced, prometheus.CounterValue, float64(s.Coalesced))
	for rc, n := range s.Rcodes {
		ch <- prometheus.MustNewConstMetric(descUpstream, prometheus.CounterValue, float64(n), rc)
	}
	buckets := make(map[float64]uint64, len(dns.LatencyBounds))
	for i, b := range dns.LatencyBounds {
		buckets[b.Seconds()] = s.LatencyBuckets[i]
	}
	ch <- prometheus.MustNewConstHistogram(descLatency, s.LatencyBuckets[len(dns.LatencyBounds)], s.LatencySum.Seconds(), buckets)
	ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(s.CacheEntries))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(s.CacheBytes))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.CacheEvicted), "evicted")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.CacheExpired), "expired")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.CacheTooBig), "too_big")
}
