package repl

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"mqsh/delivery"
	"mqsh/httpapi"
	"mqsh/lua"
	"mqsh/notices"
	"mqsh/queue"
	"mqsh/smtpd"
)

// defaultSMTP is where serve accepts mail when neither flag nor file says.
const defaultSMTP = "127.0.0.1:2525"

// serveGCPercent is the garbage collector's target (GOGC) while serve runs,
// unless GOGC is set: ingest makes many short-lived buffers (a message, its
// rows, its replies) over a live heap of a megabyte or two, so at the
// default of 100 the runtime collected, stopping every goroutine, every few
// milliseconds; at 400 a seventh as often, for some 12 MB more of memory
// (BENCHMARKS.md).
const serveGCPercent = 400

// defaultCacheSize is the page cache of each of serve's write connections to
// a queue file: enough for the pages a server changes again and again
// (indexes of due times, leases), and small enough that a server on a queue
// of a million messages stays well under 200 MB however long it runs (the
// engine's own default, 256 MiB for bulk changes, filled in a few minutes).
const defaultCacheSize = 16 << 20

// serveCommand declares `serve`: a small outbound MTA over the queue. It
// accepts mail over SMTP, delivers it (through a relay or to MX hosts), sends
// delivery status notifications, and serves Stalwart's management API over
// HTTP when asked, until interrupted.
func serveCommand() *Command {
	return &Command{
		Path:    []string{"serve"},
		Creates: true, // an MTA starts on an empty queue
		Summary: "Accepts mail over SMTP, delivers it, and serves the HTTP API, until interrupted",
		Flags: []Flag{
			{Long: "smtp", Value: "ADDR", Kind: KindText, Repeat: true,
				Help: "Accept mail over SMTP on ADDR (host:port); may be repeated; none for no listener [default: " + defaultSMTP + "]"},
			{Long: "http", Value: "ADDR", Kind: KindText, Repeat: true,
				Help: "Listen for the HTTP API on ADDR (host:port, e.g. 127.0.0.1:8080); may be repeated"},
			{Long: "config", Value: "FILE", Kind: KindFile,
				Help: "Configuration file (TOML): a [serve] table with these flags as keys, and the [[principal]] entries of the HTTP API; flags win"},
			{Long: "hostname", Value: "NAME", Kind: KindText, Help: "Name in the greeting, Received headers, EHLO and notices [default: the OS host name]"},
			{Long: "relay", Value: "HOST:PORT", Kind: KindText, Help: "Send all mail through this smarthost [default: the recipients' MX hosts]"},
			{Long: "dns", Value: "HOST:PORT", Kind: KindText, Help: "DNS server for MX lookups [default: the system's]"},
			{Long: "mx-port", Value: "PORT", Kind: KindNumber, Help: "Port of MX hosts [default: 25]"},
			{Long: "paused", Help: "Pause delivery of the queue (as queue pause): accept and queue, deliver nothing until queue resume"},
			{Long: "max-message-size", Value: "SIZE", Kind: KindText, Help: "Largest message accepted, in bytes or as 512k, 25M [default: 25M]"},
			{Long: "max-recipients", Value: "N", Kind: KindNumber, Help: "Most recipients of one message [default: 100]"},
			{Long: "concurrency", Value: "N", Kind: KindNumber, Help: "Deliveries at once, in total [default: 32]"},
			{Long: "per-domain", Value: "N", Kind: KindNumber, Help: "Deliveries at once to one domain [default: 8]"},
			{Long: "connect-timeout", Value: "DURATION", Kind: KindText, Help: "Time to connect to a remote host and be greeted [default: 30s]"},
			{Long: "command-timeout", Value: "DURATION", Kind: KindText, Help: "Time for a remote host to answer a command [default: 5m]"},
			{Long: "data-timeout", Value: "DURATION", Kind: KindText, Help: "Time to send a message and have its reply [default: 10m]"},
			{Long: "client-timeout", Value: "DURATION", Kind: KindText, Help: "Silence of an SMTP client before it is told 421 [default: 5m]"},
			{Long: "lease", Value: "DURATION", Kind: KindText, Help: "How long a domain claimed for delivery stays this server's (a crashed server's mail waits this long) [default: 10m]"},
			{Long: "retry", Value: "LIST", Kind: KindText, Help: "Waits between delivery attempts, such as 2m,5m,10m; the last repeats [default: 2m,5m,10m,15m,30m,1h,2h]"},
			{Long: "notify", Value: "LIST", Kind: KindText, Help: "When a delay notice goes to the sender, counted from arrival, such as 1d,3d; none for never [default: 1d,3d]"},
			{Long: "expire", Value: "DURATION", Kind: KindText, Help: "How long after arrival delivery is given up and the sender told [default: 5d]"},
			{Long: "cache-size", Value: "SIZE", Kind: KindText, Help: "Memory kept of the queue file per write connection, as 16M [default: 16M]"},
			{Long: "relay-network", Value: "NET", Kind: KindText, Repeat: true, Help: "Network allowed to relay without AUTH, such as 192.0.2.0/24; may be repeated; none for nobody [default: loopback]"},
			{Long: "node", Value: "NAME", Kind: KindText, Help: "Name of this server in leases (with its process id), the log and the audit [default: the host name]"},
			{Long: "log", Value: "FILE", Kind: KindFile, Help: "Append the log (one line per event) to FILE [default: standard error]"},
			{Long: "policy", Value: "FILE.lua", Kind: KindFile, Help: "Lua policy whose hooks on_arrival, next_retry and route the server calls (see the README, \"Lua hooks\")"},
			{Long: "tls-cert", Value: "FILE", Kind: KindFile, Help: "Certificate chain (PEM) for STARTTLS and HTTPS, with --tls-key"},
			{Long: "tls-key", Value: "FILE", Kind: KindFile, Help: "Private key (PEM) of --tls-cert"},
		},
		Run: runServe,
	}
}

// runServe starts the SMTP listeners, the delivery engine and the HTTP API
// on one queue and runs them until ctx ends (Ctrl-C, SIGTERM). Then it stops
// accepting, lets messages being received be committed and deliveries under
// way finish, hands back the domains claimed but not started, and returns
// nil: nothing is lost.
func runServe(ctx context.Context, env *Env, inv *Invocation) error {
	s, err := loadServeSettings(inv.Set["config"], inv)
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" { // the runtime's own setting, read from the process's environment
		defer debug.SetGCPercent(debug.SetGCPercent(serveGCPercent))
	}
	store, ok := env.Queue.(queue.DeliveryStore)
	if !ok {
		return fmt.Errorf("serve: %s is a remote server's queue: serve delivers from a queue file or a PostgreSQL database (give -u PATH or -u postgres://...)", env.Queue.Location())
	}
	if cl, ok := env.Queue.(queue.CacheLimiter); ok {
		size := int64(s.CacheSize)
		if size == 0 {
			size = defaultCacheSize
		}
		if err := cl.LimitCache(ctx, size); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	if sched, ok := s.schedule(); ok {
		sq, ok := env.Queue.(queue.Scheduler)
		if !ok {
			return fmt.Errorf("serve: the schedule cannot be set on %s: leave out retry, notify and expire", env.Queue.Location())
		}
		if err := sq.SetSchedule(sched); err != nil {
			return usageFor(inv.Cmd, err.Error())
		}
	}
	osHost, _ := os.Hostname()
	if osHost == "" {
		osHost = "localhost"
	}
	hostname := s.Hostname
	if hostname == "" {
		hostname = osHost
	}
	// The node: named in the log, the audit rows of the changes the server
	// makes, and (with the process id, so that two servers on one host
	// never renew each other's leases) the leases it holds.
	node := s.Node
	if node == "" {
		node = osHost
	}
	worker := fmt.Sprintf("%s:%d", node, os.Getpid())
	ctx = queue.WithSource(ctx, "serve on "+node)
	smtpAddrs := s.SMTP
	if len(smtpAddrs) == 0 {
		smtpAddrs = []string{defaultSMTP}
	}
	if len(smtpAddrs) == 1 && smtpAddrs[0] == "none" {
		smtpAddrs = nil
	}

	// The HTTP API's principals, before anything listens.
	var api *httpapi.Server
	var principals []*httpapi.Principal
	if len(s.HTTP) > 0 {
		if path := inv.Set["config"]; path != "" {
			ps, err := httpapi.LoadConfig(path)
			if err != nil {
				return err
			}
			principals = ps
		} else {
			secret := os.Getenv("MQSH_ADMIN_SECRET")
			if secret == "" {
				return usageFor(inv.Cmd, "nobody could log in to the HTTP API: give --config FILE with [[principal]] entries (see the README, \"The HTTP API\"), or set MQSH_ADMIN_SECRET for the principal admin")
			}
			p, err := httpapi.AdminFromSecret(secret)
			if err != nil {
				return err
			}
			principals = []*httpapi.Principal{p}
		}
		api, err = httpapi.New(httpapi.Options{Backend: env.Queue, Principals: principals, ErrorLog: env.Stderr, Node: node})
		if err != nil {
			return err
		}
	}
	var tlsFiles *httpapi.TLSFiles
	var tlsConfig *tls.Config
	if s.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
		if err != nil {
			return fmt.Errorf("serve: load --tls-cert %s and --tls-key %s: %w", s.TLSCert, s.TLSKey, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		tlsFiles = &httpapi.TLSFiles{Cert: s.TLSCert, Key: s.TLSKey}
	}

	// The log: one line per event, stamped.
	var logOut io.Writer = env.Stderr
	if s.Log != "" {
		f, err := os.OpenFile(s.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("serve: open the log: %w", err)
		}
		defer f.Close()
		logOut = f
	}
	logw := &lineLog{w: logOut, node: node}
	delivLog := logw.as("delivery")

	// The policy, when given: its hooks run in the Lua sandbox, each call
	// under a time limit, failures logged and answered by the defaults.
	var policy *lua.Policy
	if s.Policy != "" {
		policy, err = lua.LoadPolicy(s.Policy, lua.PolicyOptions{Log: logw.as("policy")})
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		defer policy.Close()
	}
	var routeFn func(string) string
	var nextRetry func(string, delivery.Reply, int) (time.Duration, bool)
	var onArrival func(context.Context, *smtpd.Arrival) smtpd.Verdict
	if policy.Has(lua.HookRoute) {
		routeFn = routeHook(policy)
	}
	if policy.Has(lua.HookNextRetry) {
		nextRetry = retryHook(policy)
	}
	if policy.Has(lua.HookOnArrival) {
		onArrival = arrivalHook(policy)
	}
	deliverer, err := delivery.New(store, delivery.Config{
		Hostname:       hostname,
		Relay:          s.Relay,
		DNS:            s.DNS,
		Port:           s.MXPort,
		Concurrency:    s.Concurrency,
		PerDomain:      s.PerDomain,
		ConnectTimeout: time.Duration(s.ConnectTimeout),
		CommandTimeout: time.Duration(s.CommandTimeout),
		DataTimeout:    time.Duration(s.DataTimeout),
		Lease:          time.Duration(s.Lease),
		Idle:           idleFor(time.Duration(s.Lease)),
		Node:           worker,
		Route:          routeFn,
		NextRetry:      nextRetry,
		Log:            delivLog,
		Notifier:       &notices.Notifier{Queue: env.Queue, Hostname: hostname, Log: delivLog},
	})
	if err != nil {
		return usageFor(inv.Cmd, err.Error())
	}

	// The SMTP server, only when it listens: it makes the queue's commits
	// synchronous (an acknowledged message survives a power loss), and
	// wakes delivery when it has queued mail.
	var smtpSrv *smtpd.Server
	if len(smtpAddrs) > 0 {
		nets, _ := s.relayNetworks()
		smtpSrv, err = smtpd.New(wakeQueue(env.Queue, deliverer.Wake, node), smtpd.Config{
			Hostname:       hostname,
			MaxMessageSize: int64(s.MaxMessageSize),
			MaxRecipients:  s.MaxRecipients,
			ReadTimeout:    time.Duration(s.ClientTimeout),
			RelayNetworks:  nets,
			Users:          s.Users,
			TLS:            tlsConfig,
			OnArrival:      onArrival,
			Log:            logw,
		})
		if err != nil {
			return err
		}
	}
	if err := demoGuard(ctx, env, s.Relay != "" || s.Paused); err != nil {
		return err
	}
	// Listen everywhere first, so that a bad address stops us before
	// anything has started.
	var smtpLns, httpLns []net.Listener
	closeAll := func() {
		for _, ln := range append(smtpLns, httpLns...) {
			ln.Close()
		}
	}
	for _, a := range smtpAddrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return fmt.Errorf("serve: listen on %s: %w", a, err)
		}
		smtpLns = append(smtpLns, ln)
	}
	for _, a := range s.HTTP {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return fmt.Errorf("serve: listen on %s: %w", a, err)
		}
		httpLns = append(httpLns, ln)
	}
	if s.Paused {
		if _, err := env.Queue.SetPaused(ctx, true); err != nil {
			closeAll()
			return fmt.Errorf("serve: pause delivery: %w", err)
		}
	}

	loc := env.Queue.Location()
	for _, ln := range smtpLns {
		fmt.Fprintf(env.Stderr, "Accepting mail for %s on smtp://%s as %s\n", loc, ln.Addr(), hostname)
	}
	scheme := "http"
	if tlsFiles != nil {
		scheme = "https"
	}
	for _, ln := range httpLns {
		fmt.Fprintf(env.Stderr, "Serving %s with Stalwart's management API on %s://%s\n", loc, scheme, ln.Addr())
	}
	if len(httpLns) > 0 {
		names := make([]string, len(principals))
		for i, p := range principals {
			names[i] = p.Name + " (" + p.Role.String() + ")"
		}
		fmt.Fprintf(env.Stderr, "Principals: %s.\n", strings.Join(names, ", "))
	}
	route := "the recipients' MX hosts"
	if s.Relay != "" {
		route = "the relay " + s.Relay
	}
	paused := ""
	if p, err := env.Queue.Paused(ctx); err == nil && p {
		paused = " (paused: queue resume starts it)"
	}
	fmt.Fprintf(env.Stderr, "Delivering to %s%s as node %s. Ctrl-C stops.\n", route, paused, node)

	// Everything until ctx ends; the first part to fail stops the others.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	start := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
				cancel()
			}
		}()
	}
	for _, ln := range smtpLns {
		start(func() error { return smtpSrv.Serve(ctx, ln) })
	}
	for _, ln := range httpLns {
		start(func() error { return api.Serve(ctx, ln, tlsFiles) })
	}
	start(func() error { return deliverer.Run(ctx) })
	if hk, ok := env.Queue.(queue.Housekeeper); ok {
		start(func() error { housekeep(ctx, hk, logw.as("housekeeping")); return nil })
	}
	if sw, ok := env.Queue.(queue.Sweeper); ok {
		start(func() error { sweep(ctx, sw, logw.as("trash")); return nil })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, "Stopped serving.")
	return nil
}

// sweepEvery is how often serve looks for messages a bulk cancel or bounce
// filed for removal, to move them to the trash (queue.Sweeper).
var sweepEvery = time.Second

// sweep moves the messages filed for removal to the trash, at start and
// then every sweepEvery until ctx ends, in the queue's own small
// transactions.
func sweep(ctx context.Context, sw queue.Sweeper, log io.Writer) {
	every(ctx, sweepEvery, log, func() (string, error) {
		n, err := sw.SweepRemovals(ctx)
		if err != nil || n == 0 {
			return "", err
		}
		return "finished removing " + counted(n, "message") + " (a bulk cancel or bounce)", nil
	})
}

// housekeepEvery is how often serve purges what the trash retention no
// longer keeps (expired trash, undo records, the attempts history of
// messages gone): delivery alone writes nothing that would run the purge.
var housekeepEvery = time.Minute

// housekeep purges at start and then every housekeepEvery until ctx ends,
// in the queue's own small transactions.
func housekeep(ctx context.Context, hk queue.Housekeeper, log io.Writer) {
	every(ctx, housekeepEvery, log, func() (string, error) {
		n, err := hk.Housekeep(ctx)
		var did []string
		if n.Attempts > 0 {
			did = append(did, counted(n.Attempts, "attempt")+" of messages gone longer than the trash retention")
		}
		if n.AuditRows > 0 {
			did = append(did, counted(n.AuditRows, "audit row")+" older than the audit retention")
		}
		if err != nil || len(did) == 0 {
			return "", err
		}
		return "deleted " + strings.Join(did, " and "), nil
	})
}

// every runs job at start and then every d until ctx ends, and logs what it
// says it did; a failure is logged and tried again next time.
func every(ctx context.Context, d time.Duration, log io.Writer, job func() (string, error)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		did, err := job()
		switch {
		case err != nil && ctx.Err() == nil:
			fmt.Fprintf(log, "%v (tried again in %s)\n", err, d)
		case err == nil && did != "":
			fmt.Fprintln(log, did)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// idleFor is the longest the delivery engine sleeps with nothing due: its
// default (30s), or the lease when that is shorter, so that the domains of a
// crashed server are taken up soon after their leases run out.
func idleFor(lease time.Duration) time.Duration {
	if lease > 0 && lease < 30*time.Second {
		return lease
	}
	return 0
}

// demoGuard refuses to deliver a queue that holds only the fake mail of
// `queue demo` to the recipients' MX hosts: that would send it to real
// domains. A relay (a test sink) or a paused start is fine.
func demoGuard(ctx context.Context, env *Env, safe bool) error {
	rc, ok := env.Queue.(queue.RealMailChecker)
	if safe || !ok {
		return nil
	}
	if paused, err := env.Queue.Paused(ctx); err != nil || paused {
		return err
	}
	n, err := env.Queue.Count(ctx, queue.Filter{All: true})
	if err != nil || n == 0 {
		return err
	}
	real, err := rc.HoldsRealMail(ctx)
	if err != nil || real {
		return err
	}
	return plainf("Refusing to deliver: the queue at %s holds only demo messages (queue demo), and delivering them to the recipients' MX hosts would send fake mail to real domains. Start with --paused, or --relay HOST:PORT of a test sink, or remove them first (queue cancel --all --yes).", env.Queue.Location())
}
