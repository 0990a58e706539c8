package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reportCollector exports the report aggregator's counters, and the
// store's built reports and oldest unsent report, at scrape time.
type reportCollector struct{ rep *reporter }

var (
	descRepEvents  = prometheus.NewDesc("authmilter_dmarc_report_events_total", "DMARC report events by outcome: queued (handed to the aggregator), dropped_queue_full (the aggregator's queue was full), skipped (no rua, or not reportable).", []string{"result"}, nil)
	descRepWritten = prometheus.NewDesc("authmilter_dmarc_report_messages_total", "Messages counted for reports by where their counts went: stored, spooled (the store was down or slow), recovered (from the spool into the store), dropped (spool full or absent), orphan (stored after their period was built).", []string{"result"}, nil)
	descRepErrors  = prometheus.NewDesc("authmilter_dmarc_report_store_errors_total", "Failed writes of report counts to reports.store.", nil, nil)
	descRepPending = prometheus.NewDesc("authmilter_dmarc_report_pending_keys", "Distinct report rows waiting in memory for the store.", nil, nil)
	descRepSpool   = prometheus.NewDesc("authmilter_dmarc_report_spool_bytes", "Size of the report spool (reports.spool).", nil, nil)
	descRepQueue   = prometheus.NewDesc("authmilter_dmarc_report_queue_depth", "Messages waiting in the report aggregator's queue.", nil, nil)
	descRepBuilt   = prometheus.NewDesc("authmilter_dmarc_reports", "Reports built and kept in reports.store.", nil, nil)
	descRepDeliv   = prometheus.NewDesc("authmilter_dmarc_report_deliveries", "Report deliveries in reports.store by state.", []string{"state"}, nil)
	descRepOldest  = prometheus.NewDesc("authmilter_dmarc_report_oldest_unsent_seconds", "Age of the oldest built report with an unsent delivery; 0 when none.", nil, nil)
)

func (c reportCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRepEvents, descRepWritten, descRepErrors, descRepPending, descRepSpool, descRepQueue, descRepBuilt, descRepDeliv, descRepOldest} {
		ch <- d
	}
}

func (c reportCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.rep.agg.Stats()
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter(descRepEvents, s.Queued, "queued")
	counter(descRepEvents, s.QueueFull, "dropped_queue_full")
	counter(descRepEvents, s.Skipped, "skipped")
	counter(descRepWritten, s.Written-s.Recovered, "stored")
	counter(descRepWritten, s.Spooled, "spooled")
	counter(descRepWritten, s.Recovered, "recovered")
	counter(descRepWritten, s.Dropped, "dropped")
	counter(descRepWritten, s.Orphans, "orphan")
	counter(descRepErrors, s.StoreErrors)
	gauge(descRepPending, float64(s.PendingKeys))
	gauge(descRepSpool, float64(s.SpoolBytes))
	gauge(descRepQueue, float64(s.QueueDepth))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.rep.st.Status(ctx)
	if err != nil {
		return // the store is down: its gauges are absent from this scrape
	}
	gauge(descRepBuilt, float64(st.Reports))
	for _, k := range []string{"pending", "sending", "retry", "sent", "failed"} {
		gauge(descRepDeliv, float64(st.Deliveries[k]), k)
	}
	gauge(descRepOldest, st.OldestUnsentAge(time.Now()).Seconds())
}
