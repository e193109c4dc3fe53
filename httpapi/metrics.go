package httpapi

import (
	"context"
	"log"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mqsh/queue"
)

// Metrics for Prometheus, on GET /metrics: the queue as it is at the scrape
// (messages by recipient status, the oldest message's age, whether delivery
// is paused) and the HTTP requests served. Deliveries, DSNs and SMTP
// sessions join when mqsh delivers mail.

// httpMetrics counts the requests served.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqsh_http_requests_total",
			Help: "HTTP requests answered, by route (path pattern; \"other\" for unknown paths and failed logins), method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mqsh_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *httpMetrics) observe(route, method string, code int, d time.Duration) {
	switch method {
	case "GET", "PATCH", "DELETE", "POST", "PUT", "HEAD", "OPTIONS":
	default:
		method = "other" // no label per made-up method
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// queueCollector reads the queue at each scrape.
type queueCollector struct {
	b   queue.Backend
	log *log.Logger
}

var (
	descMessages = prometheus.NewDesc("mqsh_queue_messages",
		"Messages in the queue with at least one recipient in the given status (scheduled, delivered, tempfail, permfail); a message may count under several.",
		[]string{"status"}, nil)
	descOldest = prometheus.NewDesc("mqsh_queue_oldest_message_age_seconds",
		"Age of the oldest message in the queue, from its creation; 0 when the queue is empty.", nil, nil)
	descPaused = prometheus.NewDesc("mqsh_queue_paused",
		"1 while delivery from the queue is paused (queue stop), else 0.", nil, nil)
	descUp = prometheus.NewDesc("mqsh_queue_up",
		"1 when the queue could be read for this scrape, else 0.", nil, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descMessages
	ch <- descOldest
	ch <- descPaused
	ch <- descUp
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.b.Summary(ctx, queue.Filter{}, "status")
	var paused bool
	if err == nil {
		paused, err = c.b.Paused(ctx)
	}
	if err != nil {
		c.log.Printf("metrics: read queue: %v", err)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	counts := map[string]int{}
	var oldest time.Time
	for _, r := range rows {
		counts[r.Key] += r.Count
		if !r.Oldest.IsZero() && (oldest.IsZero() || r.Oldest.Before(oldest)) {
			oldest = r.Oldest
		}
	}
	for _, st := range []queue.Status{queue.Scheduled, queue.Completed, queue.TempFail, queue.PermFail} {
		ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(counts[st.Short()]), st.Short())
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, c.b.Now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age)
	p := 0.0
	if paused {
		p = 1
	}
	ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, p)
}
