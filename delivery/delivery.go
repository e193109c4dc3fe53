// Package delivery drains the queue: workers claim due recipient domains
// from a queue engine under a lease, deliver each message to the domain's
// MX hosts (or a relay) over SMTP, and record the outcome, which moves the
// schedule on (retries, expiry) and yields the delivery notices a Notifier
// turns into reports. It is the delivering half of `mqsh serve`.
package delivery

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"mqsh/queue"
)

// Reply is what a remote server answered, or why none answered.
type Reply struct {
	Code     int    // SMTP reply code; 0 when no server replied (a network error)
	Enhanced string // enhanced status code such as 4.7.0; empty when none
	Message  string // the reply text, or the error
}

// String gives the reply as a person reads it: "421 4.7.0 Try later" or the error.
func (r Reply) String() string {
	if r.Code == 0 {
		return r.Message
	}
	s := strconv.Itoa(r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if r.Message != "" {
		s += " " + r.Message
	}
	return s
}

// Config sets up a Deliverer. Zero fields take the defaults given.
type Config struct {
	Hostname string // the name given in EHLO; default: the OS host name
	Relay    string // HOST:PORT of a smarthost taking every message; empty: MX lookup
	DNS      string // HOST:PORT of the DNS server for lookups; empty: the system's
	Port     int    // the port of MX hosts; default 25 (tests use another)

	Concurrency int // deliveries at once, in total; default 32
	PerDomain   int // deliveries at once to one domain; default 8

	ConnectTimeout time.Duration // to connect and greet; default 30s
	CommandTimeout time.Duration // for each SMTP command; default 5m
	DataTimeout    time.Duration // for the message and its final reply; default 10m
	Lease          time.Duration // how long a claimed domain stays ours; default queue.DefaultLease
	Poll           time.Duration // how often other processes' changes are checked; default 200ms
	Idle           time.Duration // longest sleep with nothing due, after which leases run out are found; default 30s
	Batch          int           // outcomes recorded in one transaction at most; default 256
	Linger         time.Duration // how long a small batch of outcomes waits for more; default 5ms

	Node string    // worker name stored with leases; default host name and process id
	Log  io.Writer // one line per recipient event; nil: discarded

	// Route, when set, may name a HOST:PORT to send a domain's mail to
	// instead of the relay or its MX hosts ("" = no change).
	Route func(domain string) string
	// NextRetry, when set, may replace the schedule's wait after a
	// temporary failure of a domain (ok false = the schedule).
	// attempt is the how-manyth attempt of the domain this was (1 = the first).
	NextRetry func(domain string, reply Reply, attempt int) (wait time.Duration, ok bool)
	// Notifier receives the delivery notices; nil: they are dropped.
	Notifier Notifier
}

// Notifier receives the notices owed to senders (to be turned into
// delivery status notifications and queued).
type Notifier interface {
	Notify(ctx context.Context, n Notice)
}

// Notice is one notice event: a message, its kind, the recipients concerned.
type Notice struct {
	queue.Notice
	Raw []byte // the message, for the report's returned content; nil when not kept
}

// Deliverer delivers from one queue engine.
type Deliverer struct {
	store    queue.DeliveryStore
	cfg      Config
	resolver *net.Resolver
	pool     *pool
	logMu    sync.Mutex
	// held are the log lines of attempts not yet recorded, by message and
	// domain: the recorder writes them once the outcome is in the queue, so
	// that a line never tells of what the queue does not show yet.
	held    map[heldKey][]byte
	routeMu sync.Mutex
	routes  map[string]cachedRoute
	wake    chan struct{}
	// tlsConfig gives the client TLS settings for a host (tests replace it).
	tlsConfig func(host string) *tls.Config
}

// New returns a Deliverer for store, or an error naming a bad setting.
func New(store queue.DeliveryStore, cfg Config) (*Deliverer, error) {
	for _, hp := range []struct{ name, v string }{{"relay", cfg.Relay}, {"dns", cfg.DNS}} {
		if hp.v == "" {
			continue
		}
		if _, p, err := net.SplitHostPort(hp.v); err != nil || p == "" {
			return nil, fmt.Errorf("delivery: invalid %s %q: want HOST:PORT, such as 192.0.2.1:25", hp.name, hp.v)
		}
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("delivery: invalid port %d: want 1 to 65535", cfg.Port)
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
		if cfg.Hostname == "" {
			cfg.Hostname = "localhost"
		}
	}
	if cfg.Port == 0 {
		cfg.Port = 25
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.PerDomain <= 0 {
		cfg.PerDomain = 8
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Minute
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = 10 * time.Minute
	}
	if cfg.Lease <= 0 {
		cfg.Lease = queue.DefaultLease
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 30 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	if cfg.Node == "" {
		h, _ := os.Hostname()
		cfg.Node = fmt.Sprintf("%s:%d", h, os.Getpid())
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	d := &Deliverer{store: store, cfg: cfg, resolver: net.DefaultResolver, routes: map[string]cachedRoute{}, wake: make(chan struct{}, 1)}
	if cfg.DNS != "" {
		server := cfg.DNS
		d.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, network, server)
		}}
	}
	d.pool = newPool(d)
	d.tlsConfig = func(host string) *tls.Config {
		return &tls.Config{ServerName: host, InsecureSkipVerify: true} // opportunistic, as MTAs do
	}
	return d, nil
}

// Wake makes a running Deliverer look for due work now rather than at the
// next change it notices (within Config.Poll): for a caller that has just
// queued mail in this process (SMTP ingest). It never blocks.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// outcome is what a worker hands to the recorder: an attempt to record, or
// a lease to hand back untried.
type outcome struct {
	attempt *queue.Attempt
	release *queue.Lease
	raw     []byte
}

// Run delivers until ctx ends. It then claims nothing more, lets the
// transactions under way finish (within their timeouts), records them,
// hands back the leases of claimed domains not yet started, and returns:
// nothing claimed is lost. It returns an error only when the queue fails.
func (d *Deliverer) Run(ctx context.Context) error {
	work := context.WithoutCancel(ctx) // in-flight deliveries finish
	// Twice as many domains are claimed as there are workers, so that a
	// worker finishing finds the next job waiting, and claims come in
	// batches (every claim is a write transaction).
	ahead := 2 * d.cfg.Concurrency
	jobs := make(chan queue.Job, ahead)
	outcomes := make(chan outcome, ahead)
	finished := make(chan []string, ahead) // domains whose outcome is recorded
	recErr := make(chan error, 1)

	var workers sync.WaitGroup
	for i := 0; i < d.cfg.Concurrency; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					l := j.Lease
					outcomes <- outcome{release: &l}
					continue
				}
				a := d.deliver(work, &j)
				outcomes <- outcome{attempt: &a, raw: j.Raw}
			}
		}()
	}
	go func() { recErr <- d.recorder(work, outcomes, finished) }()

	// Leases are renewed at a third of their length while held, so a slow
	// transaction never outlives its lease.
	renewCtx, stopRenew := context.WithCancel(work)
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		t := time.NewTicker(d.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				if err := d.store.Renew(renewCtx, d.cfg.Node, d.cfg.Lease); err != nil && renewCtx.Err() == nil {
					fmt.Fprintf(d.logw(), "delivery: %v\n", err)
				}
			}
		}
	}()
	watchCtx, stopWatch := context.WithCancel(ctx)
	changed := d.store.Changed(watchCtx, d.cfg.Poll)
	inflight := 0
	busy := map[string]int{}
	var runErr error
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for {
		// Claim while there is room: at once when the workers run short,
		// else in batches of half the workers.
		free := ahead - inflight
		wait := d.cfg.Idle // a finished delivery or a change wakes us sooner
		if free > 0 && (inflight <= d.cfg.Concurrency || free >= d.cfg.Concurrency/2) && ctx.Err() == nil {
			got, err := d.store.Claim(ctx, queue.ClaimRequest{Worker: d.cfg.Node, Max: free, Lease: d.cfg.Lease, PerDomain: d.cfg.PerDomain, Busy: busy})
			if err != nil && ctx.Err() == nil {
				runErr = err
				break loop
			}
			for _, j := range got {
				inflight++
				busy[j.Domain]++
				jobs <- j
			}
			if len(got) == free {
				wait = 0 // there may be more
			} else if t, ok, err := d.store.NextDue(ctx); err == nil && ok {
				// Nothing more claimable now: sleep until the next due.
				// (A due already past is a domain at its per-domain
				// cap: a finished delivery wakes us.)
				if w := time.Until(t); w > 0 && w < wait {
					wait = w
				}
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			break loop
		case doms := <-finished:
			for _, dom := range doms {
				inflight--
				if busy[dom]--; busy[dom] <= 0 {
					delete(busy, dom)
				}
			}
		case <-changed:
		case <-d.wake:
		case <-timer.C:
		case err := <-recErr:
			runErr = err
			recErr <- err
			break loop
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
	stopWatch()
	close(jobs)
	// Drain finished while the workers end, so the recorder never blocks.
	done := make(chan struct{})
	go func() {
		for range finished {
		}
		close(done)
	}()
	workers.Wait()
	close(outcomes)
	err := <-recErr
	stopRenew()
	<-renewDone
	close(finished)
	<-done
	d.pool.closeAll()
	if runErr != nil {
		return runErr
	}
	return err
}

// recorder records outcomes in batches (one transaction each), hands the
// notices to the Notifier, and reports the finished domains.
func (d *Deliverer) recorder(ctx context.Context, outcomes <-chan outcome, finished chan<- []string) error {
	var firstErr error
	for o := range outcomes {
		batch := []outcome{o}
		// Gather what else is ready; while the batch is small, wait a
		// little for more (every Record is a write transaction, whose
		// fixed cost a larger batch shares).
		linger := time.NewTimer(d.cfg.Linger)
	more:
		for len(batch) < d.cfg.Batch {
			select {
			case o, ok := <-outcomes:
				if !ok {
					break more
				}
				batch = append(batch, o)
				continue
			default:
			}
			if len(batch) >= d.cfg.Concurrency/2 {
				break
			}
			select {
			case o, ok := <-outcomes:
				if !ok {
					break more
				}
				batch = append(batch, o)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		var attempts []queue.Attempt
		var leases []queue.Lease
		raws := map[queue.ID][]byte{}
		doms := make([]string, 0, len(batch))
		for _, o := range batch {
			if o.attempt != nil {
				attempts = append(attempts, *o.attempt)
				raws[o.attempt.Message] = o.raw
				doms = append(doms, o.attempt.Domain)
			} else {
				leases = append(leases, *o.release)
				doms = append(doms, o.release.Domain)
			}
		}
		notices, err := d.store.Record(ctx, attempts)
		d.flushLog(attempts)
		if err == nil {
			err = d.store.Release(ctx, leases)
		}
		if err != nil {
			// The leases run out and the domains are tried again: nothing
			// is lost, at worst a message is delivered twice.
			fmt.Fprintf(d.logw(), "delivery: %v\n", err)
			if firstErr == nil {
				firstErr = err
			}
		}
		if d.cfg.Notifier != nil {
			for _, n := range notices {
				d.cfg.Notifier.Notify(ctx, Notice{Notice: n, Raw: raws[n.Message]})
			}
		}
		finished <- doms
	}
	return firstErr
}

func (d *Deliverer) logw() io.Writer { return d.cfg.Log }

// heldKey names the attempt a held log line belongs to.
type heldKey struct {
	msg    queue.ID
	domain string
}

// holdLog keeps a log line of an attempt of job j until the attempt is
// recorded (flushLog).
func (d *Deliverer) holdLog(j *queue.Job, line string) {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	if d.held == nil {
		d.held = map[heldKey][]byte{}
	}
	k := heldKey{j.Message, j.Domain}
	d.held[k] = append(d.held[k], line...)
}

// flushLog writes the held log lines of the attempts just recorded.
func (d *Deliverer) flushLog(attempts []queue.Attempt) {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	for _, a := range attempts {
		k := heldKey{a.Message, a.Domain}
		if b, ok := d.held[k]; ok {
			d.cfg.Log.Write(b)
			delete(d.held, k)
		}
	}
}
