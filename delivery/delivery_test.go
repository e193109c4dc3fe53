package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mqsh/internal/testlog"
	"mqsh/queue"
)

// syncBuf is a log the deliverer and the test share.
type syncBuf = testlog.Buffer

// notices collects notice events.
type notices struct {
	mu sync.Mutex
	ns []Notice
}

func (n *notices) Notify(_ context.Context, e Notice) {
	n.mu.Lock()
	n.ns = append(n.ns, e)
	n.mu.Unlock()
}

func (n *notices) list() []Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notice(nil), n.ns...)
}

func openQueue(t *testing.T, path string, sched queue.Schedule) *queue.Queue {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "queue.db")
	}
	q, err := queue.Open(path, queue.Options{Schedule: sched, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func enqueue(t *testing.T, q *queue.Queue, sender string, rcpts ...string) *queue.Message {
	t.Helper()
	env := queue.Envelope{Sender: sender}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, queue.EnvelopeRecipient{Address: r})
	}
	m, err := q.Enqueue(t.Context(), env, []byte("Subject: test "+strings.Join(rcpts, ",")+"\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// start runs a Deliverer until the test ends (or stop is called); stop
// waits for Run to return and gives its error.
func start(t *testing.T, q queue.DeliveryStore, cfg Config) (stop func() error) {
	t.Helper()
	d, err := New(q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = fmt.Errorf("Run did not return within 10s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return stop
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(within)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func queued(t *testing.T, q *queue.Queue) int {
	n, err := q.Count(context.Background(), queue.Filter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testZone: ok.test has two MX hosts, the preferred one refusing
// connections (127.0.0.2, where nothing listens); implicit.test has only an
// A record; null.test has a null MX; bad.test does not exist.
func testZone() map[string][]string {
	return map[string][]string{
		"ok.test":       {"MX 20 mx2.ok.test.", "MX 10 mx1.ok.test."},
		"mx1.ok.test":   {"A 127.0.0.2"},
		"mx2.ok.test":   {"A 127.0.0.1"},
		"implicit.test": {"A 127.0.0.1"},
		"null.test":     {"MX 0 ."},
	}
}

func mxConfig(t *testing.T, m *mta, log *syncBuf, n *notices) Config {
	return Config{Hostname: "mqsh.test", DNS: startDNS(t, testZone()), Port: m.port, Log: log, Notifier: n,
		Poll: 20 * time.Millisecond, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second, Node: t.Name()}
}

// Accepted → delivered: MX hosts in preference order (the first refuses),
// an implicit MX, STARTTLS when offered; the message leaves the queue; one
// Postfix-style line per recipient.
func TestDeliverViaMX(t *testing.T) {
	m := startMTA(t, true)
	q := openQueue(t, "", queue.Schedule{})
	log := &syncBuf{}
	msg := enqueue(t, q, "s@a.test", "ok1@ok.test", "ok2@ok.test")
	enqueue(t, q, "s@a.test", "ok3@implicit.test")
	start(t, q, mxConfig(t, m, log, nil))
	waitFor(t, 10*time.Second, "the queue to empty", func() bool { return queued(t, q) == 0 })
	for _, r := range []string{"ok1@ok.test", "ok2@ok.test", "ok3@implicit.test"} {
		if m.count(r) != 1 {
			t.Errorf("%s received %d copies, want 1", r, m.count(r))
		}
	}
	m.mu.Lock()
	if len(m.msgs) != 2 || len(m.msgs[0].to)+len(m.msgs[1].to) != 3 || m.msgs[0].from != "s@a.test" {
		t.Errorf("transactions %+v, want two (one per message and domain)", m.msgs)
	}
	if m.tls != 2 {
		t.Errorf("%d transactions over TLS, want 2 (STARTTLS offered)", m.tls)
	}
	m.mu.Unlock()
	// The log lines follow the record that emptied the queue.
	want := fmt.Sprintf("%s: to=<ok1@ok.test> relay=mx2.ok.test[127.0.0.1]:%d delay=", msg.ID, m.port)
	waitFor(t, 10*time.Second, "a log line starting "+want, func() bool { return strings.Contains(log.String(), want) })
	if !strings.Contains(log.String(), "dsn=2.0.0 status=sent (250 2.0.0 OK") {
		t.Errorf("log:\n%s\nwant status=sent lines", log)
	}
}

// A connection to the relay is reused for its next messages.
func TestDeliverReusesConnections(t *testing.T) {
	m := startMTA(t, false)
	q := openQueue(t, "", queue.Schedule{})
	for i := 0; i < 20; i++ {
		enqueue(t, q, "s@a.test", fmt.Sprintf("ok%d@r.test", i))
	}
	start(t, q, Config{Relay: m.addr, Concurrency: 2, Poll: 20 * time.Millisecond, Node: "w"})
	waitFor(t, 10*time.Second, "the queue to empty", func() bool { return queued(t, q) == 0 })
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns > 2 {
		t.Errorf("%d connections for 20 messages with concurrency 2, want at most 2", m.conns)
	}
}

// 4xx: the recipient is retried by the schedule and then delivered.
func TestTempfailThenDelivered(t *testing.T) {
	m := startMTA(t, false)
	q := openQueue(t, "", queue.Schedule{Retry: []time.Duration{time.Second}, Notify: []time.Duration{time.Hour}, Expire: time.Hour})
	log := &syncBuf{}
	msg := enqueue(t, q, "s@a.test", "once@ok.test", "ok@ok.test")
	// The recorder gathers outcomes for a while (here long, 300ms); the log
	// line of an attempt is written only once it is recorded, so what the
	// log tells, the queue shows.
	cfg := mxConfig(t, m, log, nil)
	cfg.Linger, cfg.Concurrency = 300*time.Millisecond, 8
	start(t, q, cfg)
	waitFor(t, 5*time.Second, "the first attempt", func() bool { return strings.Contains(log.String(), "status=deferred") })
	got, err := q.Get(t.Context(), msg.ID)
	if err != nil {
		t.Fatal(err)
	}
	d := got.Domains[0]
	if d.Status != queue.TempFail || d.RetryNum != 1 || d.Recipients[0].Code != 451 || d.Recipients[0].Enhanced != "4.3.0" || d.Recipients[1].Status != queue.Completed {
		t.Errorf("after the first attempt: %+v", d)
	}
	waitFor(t, 5*time.Second, "the retry to deliver", func() bool { return queued(t, q) == 0 })
	if m.count("once@ok.test") != 1 || m.count("ok@ok.test") != 1 {
		t.Errorf("copies: %v", m.all())
	}
	if !strings.Contains(log.String(), "to=<once@ok.test>") || !strings.Contains(log.String(), "dsn=4.3.0 status=deferred (451 4.3.0 Not yet)") {
		t.Errorf("log:\n%s", log)
	}
}

// 5xx: permanent failure and a failure notice; a null MX fails at once;
// nothing is sent about a bounce.
func TestPermfailNotices(t *testing.T) {
	m := startMTA(t, false)
	q := openQueue(t, "", queue.Schedule{})
	log, ns := &syncBuf{}, &notices{}
	msg := enqueue(t, q, "s@a.test", "perm@ok.test", "ok@ok.test")
	null := enqueue(t, q, "s@a.test", "x@null.test")
	enqueue(t, q, "", "perm2@ok.test")
	start(t, q, mxConfig(t, m, log, ns))
	waitFor(t, 10*time.Second, "the queue to empty", func() bool { return queued(t, q) == 0 })
	waitFor(t, time.Second, "two notices", func() bool { return len(ns.list()) >= 2 })
	byMsg := map[queue.ID]Notice{}
	for _, n := range ns.list() {
		byMsg[n.Message] = n
	}
	if len(byMsg) != 2 {
		t.Fatalf("notices %+v, want one per non-bounce message", ns.list())
	}
	n := byMsg[msg.ID]
	if n.Kind != queue.NoticeFailure || len(n.Recipients) != 1 || n.Recipients[0].Address != "perm@ok.test" || n.Recipients[0].Code != 550 || n.Recipients[0].Enhanced != "5.1.1" ||
		n.RemoteMTA != fmt.Sprintf("mx2.ok.test[127.0.0.1]:%d", m.port) || !bytes.HasPrefix(n.Raw, []byte("Subject: test")) {
		t.Errorf("failure notice %+v", n)
	}
	if n := byMsg[null.ID]; n.Kind != queue.NoticeFailure || n.Recipients[0].Enhanced != "5.1.10" {
		t.Errorf("null MX notice %+v", n)
	}
	if !strings.Contains(log.String(), "to=<perm@ok.test>") || !strings.Contains(log.String(), "status=bounced (550 5.1.1 No such user)") {
		t.Errorf("log:\n%s", log)
	}
}

// Expiry: a domain still failing at its expiry fails permanently with its
// last reply; a delay notice comes at the notify time before that.
func TestDelayThenExpiry(t *testing.T) {
	m := startMTA(t, false)
	q := openQueue(t, "", queue.Schedule{Retry: []time.Duration{time.Second}, Notify: []time.Duration{time.Second}, Expire: 3 * time.Second})
	ns := &notices{}
	msg := enqueue(t, q, "s@a.test", "temp@ok.test")
	start(t, q, mxConfig(t, m, &syncBuf{}, ns))
	waitFor(t, 10*time.Second, "the message to expire", func() bool { return queued(t, q) == 0 })
	waitFor(t, time.Second, "the failure notice", func() bool {
		l := ns.list()
		return len(l) > 0 && l[len(l)-1].Kind == queue.NoticeFailure
	})
	l := ns.list()
	if len(l) != 2 || l[0].Kind != queue.NoticeDelay || l[0].Message != msg.ID {
		t.Fatalf("notices %+v, want a delay notice then a failure notice", l)
	}
	if r := l[1].Recipients[0]; r.Code != 451 || r.Message != "Try again later" || r.Status != queue.PermFail {
		t.Errorf("expired recipient %+v, want the last reply", r)
	}
}

// 421, a dropped connection and a refused one fail the domain temporarily,
// with the reason shown by `queue status`.
func TestDomainFailures(t *testing.T) {
	m := startMTA(t, false)
	q := openQueue(t, "", queue.Schedule{})
	log := &syncBuf{}
	a := enqueue(t, q, "s@a.test", "r421@ok.test")
	b := enqueue(t, q, "s@a.test", "drop@ok.test")
	start(t, q, mxConfig(t, m, log, nil))
	waitFor(t, 10*time.Second, "two deferrals", func() bool { return strings.Count(log.String(), "status=deferred") == 2 })
	time.Sleep(100 * time.Millisecond) // the recording
	for id, want := range map[queue.ID]string{a.ID: "421 4.7.0 Too busy, closing", b.ID: "EOF"} {
		got, err := q.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d := got.Domains[0]; d.Status != queue.TempFail || !strings.Contains(d.Details, want) || d.RetryNum != 1 {
			t.Errorf("domain %+v, want a temporary failure saying %q", d, want)
		}
	}

	q2 := openQueue(t, "", queue.Schedule{})
	c := enqueue(t, q2, "s@a.test", "x@c.test")
	start(t, q2, Config{Relay: "127.0.0.2:" + fmt.Sprint(m.port), Poll: 20 * time.Millisecond, Node: "w", ConnectTimeout: time.Second})
	waitFor(t, 5*time.Second, "the refusal to be recorded", func() bool {
		got, err := q2.Get(t.Context(), c.ID)
		return err == nil && got.Domains[0].Status == queue.TempFail
	})
	got, _ := q2.Get(t.Context(), c.ID)
	if !strings.Contains(got.Domains[0].Details, "connection refused") {
		t.Errorf("details %q, want connection refused", got.Domains[0].Details)
	}
}

// Two Deliverers on one queue file (two handles, as two processes) deliver
// each message exactly once.
func TestTwoDeliverersDeliverOnce(t *testing.T) {
	m := startMTA(t, false)
	path := filepath.Join(t.TempDir(), "queue.db")
	q1 := openQueue(t, path, queue.Schedule{})
	q2 := openQueue(t, path, queue.Schedule{})
	const n = 300
	for i := 0; i < n; i++ {
		enqueue(t, q1, "s@a.test", fmt.Sprintf("ok%d@d%d.test", i, i%7))
	}
	cfg := Config{Relay: m.addr, Concurrency: 8, PerDomain: 4, Poll: 20 * time.Millisecond}
	cfg.Node = "one"
	start(t, q1, cfg)
	cfg.Node = "two"
	start(t, q2, cfg)
	waitFor(t, 20*time.Second, "the queue to empty", func() bool { return queued(t, q1) == 0 })
	for i := 0; i < n; i++ {
		if c := m.count(fmt.Sprintf("ok%d@d%d.test", i, i%7)); c != 1 {
			t.Errorf("message %d delivered %d times", i, c)
		}
	}
}

// A Deliverer stopped mid-delivery finishes the transaction under way,
// records it, and hands back what it had claimed and not started; another
// Deliverer delivers the rest. Nothing is lost, nothing is sent twice.
func TestStopMidDeliveryLosesNothing(t *testing.T) {
	m := startMTA(t, false)
	m.slow = 500 * time.Millisecond
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQueue(t, path, queue.Schedule{})
	const n = 20
	for i := 0; i < n; i++ {
		enqueue(t, q, "s@a.test", fmt.Sprintf("slow%d@s.test", i))
	}
	stop := start(t, q, Config{Relay: m.addr, Concurrency: 2, Poll: 20 * time.Millisecond, Node: "first", Lease: time.Hour})
	<-m.ready
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	first := len(m.all()) / 2
	if first == 0 || first >= n {
		t.Fatalf("%d delivered before the stop finished, want some, not all", first)
	}
	if left := queued(t, q); left != n-first {
		t.Errorf("%d queued after the stop, want %d (what was delivered is recorded)", left, n-first)
	}
	// Leases handed back: another worker takes the rest at once, although
	// the leases were for an hour.
	q2 := openQueue(t, path, queue.Schedule{})
	start(t, q2, Config{Relay: m.addr, Concurrency: 4, Poll: 20 * time.Millisecond, Node: "second"})
	waitFor(t, 20*time.Second, "the rest to be delivered", func() bool { return queued(t, q2) == 0 })
	for i := 0; i < n; i++ {
		if c := m.count(fmt.Sprintf("slow%d@s.test", i)); c != 1 {
			t.Errorf("message %d delivered %d times", i, c)
		}
	}
}

// A crashed worker's lease runs out and another picks the domain up.
func TestCrashedWorkerLeaseRunsOut(t *testing.T) {
	m := startMTA(t, false)
	q := openQueue(t, "", queue.Schedule{})
	enqueue(t, q, "s@a.test", "ok@c.test")
	jobs, err := q.Claim(t.Context(), queue.ClaimRequest{Worker: "crashed", Max: 10, Lease: time.Second})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	start(t, q, Config{Relay: m.addr, Poll: 20 * time.Millisecond, Node: "w", Idle: 100 * time.Millisecond})
	waitFor(t, 5*time.Second, "the domain to be picked up", func() bool { return queued(t, q) == 0 })
	if m.count("ok@c.test") != 1 {
		t.Errorf("delivered %d times", m.count("ok@c.test"))
	}
}

// `queue retry` from another handle wakes the deliverer within a second
// (it would otherwise sleep for Config.Idle, 30 seconds, or until the next
// retry two minutes away).
func TestRetryFromElsewhereWakes(t *testing.T) {
	m := startMTA(t, false)
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQueue(t, path, queue.Schedule{})
	log := &syncBuf{}
	enqueue(t, q, "s@a.test", "once@ok.test")
	start(t, q, mxConfig(t, m, log, nil))
	waitFor(t, 5*time.Second, "the first attempt", func() bool { return strings.Contains(log.String(), "status=deferred") })
	time.Sleep(100 * time.Millisecond)
	other := openQueue(t, path, queue.Schedule{})
	if _, err := other.Retry(t.Context(), queue.RetryRequest{Filter: queue.Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	retried := time.Now()
	waitFor(t, 3*time.Second, "the retried message to be delivered", func() bool { return queued(t, q) == 0 })
	if took := time.Since(retried); took > 1500*time.Millisecond {
		t.Errorf("delivered %v after the retry (the next scheduled attempt was 2 minutes away)", took)
	}
}

// `queue cancel` of a message being delivered: the transaction under way
// completes, and recording it does not bring the message back.
func TestCancelInFlight(t *testing.T) {
	m := startMTA(t, false)
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQueue(t, path, queue.Schedule{})
	msg := enqueue(t, q, "s@a.test", "slow@s.test", "temp@s.test")
	log := &syncBuf{}
	start(t, q, Config{Relay: m.addr, Poll: 20 * time.Millisecond, Node: "w", Log: log})
	<-m.ready
	other := openQueue(t, path, queue.Schedule{})
	if _, err := other.Cancel(t.Context(), queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{msg.ID}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the transaction to end", func() bool { return strings.Contains(log.String(), "status=sent") })
	time.Sleep(200 * time.Millisecond)
	if _, err := q.Get(t.Context(), msg.ID); err == nil {
		t.Errorf("cancelled message is back in the queue")
	}
	if queued(t, q) != 0 {
		t.Errorf("queue not empty")
	}
}

// Route and NextRetry hooks: a domain routed elsewhere, and a policy's wait.
func TestHooks(t *testing.T) {
	m := startMTA(t, false)
	q := openQueue(t, "", queue.Schedule{})
	msg := enqueue(t, q, "s@a.test", "r421@hooked.test")
	var got Reply
	var gotAttempt int
	var mu sync.Mutex
	start(t, q, Config{Relay: "127.0.0.2:1", Poll: 20 * time.Millisecond, Node: "w",
		Route: func(domain string) string {
			if domain == "hooked.test" {
				return m.addr
			}
			return ""
		},
		NextRetry: func(domain string, r Reply, attempt int) (time.Duration, bool) {
			mu.Lock()
			got = r
			gotAttempt = attempt
			mu.Unlock()
			return time.Hour, true
		}})
	waitFor(t, 5*time.Second, "the attempt to be recorded", func() bool {
		g, err := q.Get(t.Context(), msg.ID)
		return err == nil && g.Domains[0].RetryNum == 1
	})
	g, _ := q.Get(t.Context(), msg.ID)
	mu.Lock()
	defer mu.Unlock()
	if got.Code != 421 || got.Enhanced != "4.7.0" {
		t.Errorf("NextRetry got %+v, want the 421", got)
	}
	if gotAttempt != 1 {
		t.Errorf("NextRetry told attempt %d, want 1 (the first)", gotAttempt)
	}
	if w := time.Until(g.Domains[0].Due); w < 59*time.Minute {
		t.Errorf("next retry in %v, want the hook's hour", w)
	}
}

// A server slower than the timeouts: a temporary failure of the domain
// saying so.
func TestSlowReplyTimesOut(t *testing.T) {
	m := startMTA(t, false)
	m.slow = 2 * time.Second
	q := openQueue(t, "", queue.Schedule{})
	msg := enqueue(t, q, "s@a.test", "slow@s.test")
	start(t, q, Config{Relay: m.addr, Poll: 20 * time.Millisecond, Node: "w", DataTimeout: 300 * time.Millisecond})
	waitFor(t, 5*time.Second, "the timeout to be recorded", func() bool {
		g, err := q.Get(t.Context(), msg.ID)
		return err == nil && g.Domains[0].Status == queue.TempFail
	})
	g, _ := q.Get(t.Context(), msg.ID)
	if d := g.Domains[0].Details; !strings.Contains(d, "timeout") {
		t.Errorf("details %q, want a timeout", d)
	}
}

// STARTTLS offered but the handshake fails: delivered over plain text.
func TestTLSFailureFallsBackToPlain(t *testing.T) {
	m := startMTA(t, true)
	q := openQueue(t, "", queue.Schedule{})
	enqueue(t, q, "s@a.test", "ok@t.test")
	cfg := Config{Relay: m.addr, Poll: 20 * time.Millisecond, Node: "w"}
	d, err := New(q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.tlsConfig = func(host string) *tls.Config {
		return &tls.Config{ServerName: host, MaxVersion: tls.VersionTLS10, MinVersion: tls.VersionTLS10} // the server refuses TLS 1.0
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 5*time.Second, "the delivery", func() bool { return queued(t, q) == 0 })
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.count0("ok@t.test") != 1 || m.tls != 0 {
		t.Errorf("delivered %d times, %d over TLS; want once, in plain text", m.got["ok@t.test"], m.tls)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	q := openQueue(t, "", queue.Schedule{})
	for _, cfg := range []Config{{Relay: "mx.example.com"}, {DNS: "127.0.0.1"}, {Port: 70000}} {
		if _, err := New(q, cfg); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("New(%+v): %v, want an error naming the bad setting", cfg, err)
		}
	}
}

// Wake: mail queued in this process is picked up at once, without waiting
// for the change to be noticed.
func TestWake(t *testing.T) {
	m := startMTA(t, false)
	q := openQueue(t, "", queue.Schedule{})
	d, err := New(q, Config{Relay: m.addr, Poll: time.Hour, Node: "w"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(100 * time.Millisecond) // asleep: nothing due
	enqueue(t, q, "s@a.test", "ok@w.test")
	d.Wake()
	waitFor(t, 3*time.Second, "the delivery", func() bool { return m.count("ok@w.test") == 1 })
}

// A transaction slower than the lease: the lease is renewed meanwhile, so a
// second server never takes the domain over and sends it again.
func TestLeaseRenewedDuringSlowDelivery(t *testing.T) {
	m := startMTA(t, false)
	m.slow = 2 * time.Second
	path := filepath.Join(t.TempDir(), "queue.db")
	q1 := openQueue(t, path, queue.Schedule{})
	q2 := openQueue(t, path, queue.Schedule{})
	enqueue(t, q1, "s@a.test", "slow@s.test")
	start(t, q1, Config{Relay: m.addr, Poll: 20 * time.Millisecond, Node: "one", Lease: time.Second, Idle: 100 * time.Millisecond})
	<-m.ready
	start(t, q2, Config{Relay: m.addr, Poll: 20 * time.Millisecond, Node: "two", Lease: time.Second, Idle: 100 * time.Millisecond})
	waitFor(t, 10*time.Second, "the delivery to be recorded", func() bool { return queued(t, q1) == 0 })
	time.Sleep(m.slow + 500*time.Millisecond) // a second delivery, had one begun, ends
	if c := m.count("slow@s.test"); c != 1 {
		t.Errorf("delivered %d times, want once", c)
	}
}
