package httpapi

import (
	"bytes"
	"fmt"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics as Prometheus would.
func (e *testEnv) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	code, ctype, b := e.do("GET", "/metrics", basic("viewer", viewerSecret))
	if code != 200 {
		e.t.Fatalf("/metrics: %d %s", code, b)
	}
	if want := "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"; ctype != want && ctype != "text/plain; version=0.0.4; charset=utf-8" {
		e.t.Errorf("/metrics content type %q", ctype)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		e.t.Fatalf("parse /metrics: %v\n%s", err, b)
	}
	return fams
}

// value finds the sample of a family with the given labels ("k=v" pairs).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
	}
	t.Fatalf("no sample of %s with %v", name, labels)
	return 0
}

func TestMetrics(t *testing.T) {
	e := startServer(t)
	fams := e.scrape()
	if v := value(t, fams, "mqsh_queue_oldest_message_age_seconds"); v != 0 {
		t.Errorf("empty queue: oldest %v", v)
	}
	e.load(stalwartSix()...)
	e.do("GET", "/api/queue/messages", asAdmin)
	e.do("GET", "/api/queue/messages", asAdmin)
	e.do("GET", fmt.Sprintf("/api/queue/messages/%d", idA), asAdmin)
	e.do("GET", "/api/queue/messages/77", asAdmin)
	e.do("PATCH", "/api/queue/status/stop", asAdmin)
	e.do("PATCH", "/api/queue/status/stop", basic("viewer", viewerSecret))
	e.do("GET", "/api/queue/status", basic("admin", "guess"))

	fams = e.scrape()
	for _, c := range []struct {
		status string
		want   float64
	}{{"scheduled", 5}, {"delivered", 1}, {"tempfail", 1}, {"permfail", 0}} {
		if v := value(t, fams, "mqsh_queue_messages", "status", c.status); v != c.want {
			t.Errorf("messages %s: %v, want %v", c.status, v, c.want)
		}
	}
	if v := value(t, fams, "mqsh_queue_oldest_message_age_seconds"); v != 60 {
		t.Errorf("oldest: %v s, want 60", v)
	}
	if v := value(t, fams, "mqsh_queue_paused"); v != 1 {
		t.Errorf("paused: %v", v)
	}
	for _, c := range []struct {
		route, method, code string
		want                float64
	}{
		{"/api/queue/messages", "GET", "200", 2},
		{"/api/queue/messages/{id}", "GET", "200", 1},
		{"/api/queue/messages/{id}", "GET", "404", 1},
		{"/api/queue/status/stop", "PATCH", "200", 1},
		{"/api/queue/status/stop", "PATCH", "403", 1},
		{"other", "GET", "401", 1},
		{"/metrics", "GET", "200", 1},
	} {
		if v := value(t, fams, "mqsh_http_requests_total", "route", c.route, "method", c.method, "code", c.code); v != c.want {
			t.Errorf("requests %s %s %s: %v, want %v", c.method, c.route, c.code, v, c.want)
		}
	}
	if fams["mqsh_http_request_duration_seconds"] == nil {
		t.Error("no request durations")
	}
}
