package server

import (
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// httpMetrics are counted by the server as it answers.
type httpMetrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authFailures prometheus.Counter
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spindle_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status."}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "spindle_http_request_duration_seconds",
			Help: "Time to answer HTTP requests, by route pattern and method.", Buckets: prometheus.DefBuckets}, []string{"route", "method"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "spindle_auth_failures_total",
			Help: "Failed authentications (bad, expired or revoked tokens; failed logins)."}),
	}
	reg.MustRegister(m.requests, m.duration, m.authFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// storeCollector reads what the workers and syncs recorded in the database
// at each scrape, so the numbers are the same whichever process (this
// server, a worker elsewhere, the CLI) did the work.
type storeCollector struct{ s *Server }

var (
	descSyncs = prometheus.NewDesc("spindle_syncs_total", "Sync runs recorded, by integration and outcome (ok, partial, failed).",
		[]string{"integration", "outcome"}, nil)
	descSyncRecords = prometheus.NewDesc("spindle_sync_records_total", "Records read by recorded sync runs, by integration.",
		[]string{"integration"}, nil)
	descSyncErrors = prometheus.NewDesc("spindle_sync_stream_errors_total", "Streams of recorded runs that failed or were denied, by integration and outcome.",
		[]string{"integration", "outcome"}, nil)
	descEntities = prometheus.NewDesc("spindle_inventory_entities", "Entities in the inventory, by integration and presence.",
		[]string{"integration", "presence"}, nil)
	descValidations = prometheus.NewDesc("spindle_validation_results_total", "Recorded contract and validation results, by integration and health.",
		[]string{"integration", "health"}, nil)
	descHealth = prometheus.NewDesc("spindle_integration_health", "1 for each integration's latest recorded health.",
		[]string{"integration", "health"}, nil)
	descJobs = prometheus.NewDesc("spindle_jobs", "Background jobs (River) by state; capped at 1000 per state.",
		[]string{"state"}, nil)
	descScrapeErrors = prometheus.NewDesc("spindle_metrics_scrape_errors", "Queries of this scrape that failed (see the server log).", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSyncs, descSyncRecords, descSyncErrors, descEntities, descValidations, descHealth, descJobs, descScrapeErrors} {
		ch <- d
	}
}

// Collect runs a few grouped counts (indexed) per scrape.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db := c.s.cfg.Env.DB
	errs := 0
	queries := []struct {
		desc   *prometheus.Desc
		vt     prometheus.ValueType
		query  string
		labels int
	}{
		{descSyncs, prometheus.CounterValue, `SELECT source, status, COUNT(*) FROM sync_runs WHERE status <> 'running' GROUP BY source, status`, 2},
		{descSyncRecords, prometheus.CounterValue, `SELECT r.source, SUM(s.records) FROM sync_streams s JOIN sync_runs r ON r.id = s.run_id GROUP BY r.source`, 1},
		{descSyncErrors, prometheus.CounterValue, `SELECT r.source, s.outcome, COUNT(*) FROM sync_streams s JOIN sync_runs r ON r.id = s.run_id WHERE s.outcome IN ('failed', 'denied') GROUP BY r.source, s.outcome`, 2},
		{descEntities, prometheus.GaugeValue, `SELECT source, presence, COUNT(*) FROM entities GROUP BY source, presence`, 2},
		{descValidations, prometheus.CounterValue, `SELECT integration, health, COUNT(*) FROM integration_health GROUP BY integration, health`, 2},
		{descHealth, prometheus.GaugeValue, `SELECT h.integration, h.health, 1 FROM integration_health h
			WHERE h.id = (SELECT MAX(id) FROM integration_health x WHERE x.integration = h.integration)`, 2},
	}
	for _, q := range queries {
		if err := collectRows(ctx, db, ch, q.desc, q.vt, q.query, q.labels); err != nil {
			c.s.log.Error("metrics: query", "metric", q.desc.String(), "error", err.Error())
			errs++
		}
	}
	if q := c.s.cfg.Queue; q != nil {
		for _, state := range []string{"available", "scheduled", "retryable", "running", "pending"} {
			js, err := q.List(ctx, 1000, state)
			if err != nil {
				c.s.log.Error("metrics: jobs", "state", state, "error", err.Error())
				errs++
				continue
			}
			ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(len(js)), state)
		}
	}
	ch <- prometheus.MustNewConstMetric(descScrapeErrors, prometheus.GaugeValue, float64(errs))
}

func collectRows(ctx context.Context, db *sql.DB, ch chan<- prometheus.Metric, d *prometheus.Desc, vt prometheus.ValueType, q string, labels int) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		ls := make([]string, labels)
		dest := make([]any, labels+1)
		for i := range ls {
			dest[i] = &ls[i]
		}
		var v sql.NullFloat64
		dest[labels] = &v
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		ch <- prometheus.MustNewConstMetric(d, vt, v.Float64, ls...)
	}
	return rows.Err()
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	s.metricsHandler.ServeHTTP(w, r)
}
