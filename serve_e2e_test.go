package main

// End-to-end tests of `mqsh serve`: the mqsh program built and run as real
// processes on a real queue file, a real SMTP client sending to it, and an
// in-process go-smtp server on loopback as the relay it delivers to.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

var (
	mqshBinOnce sync.Once
	mqshBin     string
	mqshBinErr  error
)

// builtMQSH builds the mqsh program once per test run.
func builtMQSH(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs mqsh serve: not in -short mode")
	}
	mqshBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mqsh-e2e-")
		if err != nil {
			mqshBinErr = err
			return
		}
		mqshBin = filepath.Join(dir, "mqsh")
		out, err := exec.Command("go", "build", "-o", mqshBin, ".").CombinedOutput()
		if err != nil {
			mqshBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if mqshBinErr != nil {
		t.Fatal(mqshBinErr)
	}
	return mqshBin
}

// sink is the remote MTA: it records each message it accepts. A
// recipient's local part says what it answers: perm… 550 5.1.1 at RCPT,
// temp… 451 4.5.3 while tempfail is set; anything else is accepted. With
// slow set, the reply to DATA comes after that pause.
type sink struct {
	addr     string
	mu       sync.Mutex
	msgs     []sunk
	tempfail bool
	slow     time.Duration
	discard  bool          // count messages without keeping them (benchmarks)
	n        atomic.Int64  // messages accepted
	dataSeen chan struct{} // a DATA has begun (buffered)
}

type sunk struct {
	from string
	to   []string
	data []byte
}

func startSink(t testing.TB) *sink {
	t.Helper()
	k := &sink{tempfail: true, dataSeen: make(chan struct{}, 1000)}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &sinkSession{k: k}, nil
	}))
	s.Domain = "sink.test"
	s.EnableDSN = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	k.addr = l.Addr().String()
	return k
}

func (k *sink) messages() []sunk {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]sunk(nil), k.msgs...)
}

func (k *sink) setTempfail(v bool) { k.mu.Lock(); k.tempfail = v; k.mu.Unlock() }

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

type sinkSession struct {
	k     *sink
	from  string
	rcpts []string
}

func (s *sinkSession) Reset()        { s.from, s.rcpts = "", nil }
func (s *sinkSession) Logout() error { return nil }
func (s *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	local, _, _ := strings.Cut(to, "@")
	s.k.mu.Lock()
	temp := s.k.tempfail
	s.k.mu.Unlock()
	switch {
	case strings.HasPrefix(local, "perm"):
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	case strings.HasPrefix(local, "temp") && temp:
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 5, 3}, Message: "Try again later"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	select {
	case s.k.dataSeen <- struct{}{}:
	default:
	}
	s.k.mu.Lock()
	slow := s.k.slow
	s.k.mu.Unlock()
	time.Sleep(slow)
	s.k.mu.Lock()
	if !s.k.discard {
		s.k.msgs = append(s.k.msgs, sunk{from: s.from, to: s.rcpts, data: b})
	}
	s.k.mu.Unlock()
	s.k.n.Add(1)
	return nil
}

// server is one running `mqsh serve` process.
type server struct {
	cmd    *exec.Cmd
	smtp   string // host:port it accepts mail on; "" with --smtp none
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

func (s *server) output() string { s.mu.Lock(); defer s.mu.Unlock(); return s.stderr.String() }

var smtpAnnounce = regexp.MustCompile(`on smtp://(127\.0\.0\.1:\d+) as`)

// startServe runs mqsh -u db serve with args, waits until it announces
// that it delivers, and stops it with SIGTERM when the test ends.
func startServe(t testing.TB, db string, args ...string) *server {
	t.Helper()
	bin := builtMQSH(t)
	s := &server{done: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"-u", db, "serve"}, args...)...)
	s.cmd.Env = append(os.Environ(), "MQSH_NOHISTORY=1")
	pr, pw := io.Pipe()
	s.cmd.Stderr = pw
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			if m := smtpAnnounce.FindStringSubmatch(sc.Text()); m != nil && s.smtp == "" {
				s.smtp = m[1]
			}
			s.mu.Unlock()
			if !once && strings.HasPrefix(sc.Text(), "Delivering to ") {
				once = true
				close(ready)
			}
		}
	}()
	go func() { err := s.cmd.Wait(); pw.Close(); s.done <- err }()
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("serve ended at once: %v\n%s", err, s.output())
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		t.Fatalf("serve did not start:\n%s", s.output())
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("serve output:\n%s", s.output())
		}
	})
	return s
}

// stop sends SIGTERM and returns the exit error (nil for status 0).
func (s *server) stop(t testing.TB) error {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", s.output())
	}
	return nil
}

// mqsh runs one mqsh command on db and returns its standard output.
func mqsh(t *testing.T, db string, args ...string) string {
	t.Helper()
	cmd := exec.Command(builtMQSH(t), append([]string{"-u", db}, args...)...)
	cmd.Env = append(os.Environ(), "MQSH_NOHISTORY=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("mqsh %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// send sends one message over SMTP with the standard library's client.
func send(t *testing.T, addr, from string, to []string, subject string) {
	t.Helper()
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\nHello.\r\n",
		from, to[0], subject, strings.ReplaceAll(subject, " ", "."))
	if err := smtp.SendMail(addr, nil, from, to, []byte(msg)); err != nil {
		t.Fatalf("send %q: %v", subject, err)
	}
}

func newQueue(t *testing.T) string {
	return filepath.Join(t.TempDir(), "queue.db")
}

// TestServeAcceptDeliver: a message sent over SMTP is delivered to the relay
// once, logged as sent, and leaves the queue; SIGTERM then exits 0.
func TestServeAcceptDeliver(t *testing.T) {
	k := startSink(t)
	db := newQueue(t)
	logf := filepath.Join(t.TempDir(), "mail.log")
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--relay", k.addr, "--hostname", "mx.test", "--log", logf)
	send(t, srv.smtp, "alice@example.org", []string{"bob@example.com"}, "first")
	waitFor(t, 10*time.Second, "the delivery", func() bool { return len(k.messages()) == 1 })
	m := k.messages()[0]
	if m.from != "alice@example.org" || len(m.to) != 1 || m.to[0] != "bob@example.com" || !bytes.Contains(m.data, []byte("Subject: first")) {
		t.Errorf("delivered %q to %q:\n%s", m.from, m.to, m.data)
	}
	if !bytes.Contains(m.data, []byte("by mx.test")) {
		t.Errorf("no Received header of mx.test:\n%s", m.data)
	}
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return strings.TrimSpace(mqsh(t, db, "queue", "list", "-o", "ids")) == "" })
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve exited with %v:\n%s", err, srv.output())
	}
	if !strings.HasSuffix(srv.output(), "Stopped serving.\n") {
		t.Errorf("stderr:\n%s", srv.output())
	}
	b, _ := os.ReadFile(logf)
	log := string(b)
	sent := regexp.MustCompile(`(?m)^\S+ \S+ delivery: [0-9A-F]+: to=<bob@example\.com> relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+ delay=\d+\.\d dsn=2\.0\.0 status=sent \(250 .*\)$`)
	if !sent.MatchString(log) || !strings.Contains(log, " smtpd: ") {
		t.Errorf("log:\n%s", log)
	}
	if len(k.messages()) != 1 {
		t.Errorf("delivered %d times", len(k.messages()))
	}
}

// sendDSN sends one message with DSN parameters (RET=FULL, ENVID, and per
// recipient NOTIFY=FAILURE and ORCPT) over go-smtp's client.
func sendDSN(t *testing.T, addr, from, to, orcpt, envid string) {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from, &gosmtp.MailOptions{Return: gosmtp.DSNReturnFull, EnvelopeID: envid}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to, &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure},
		OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: orcpt}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: <%s>\r\nTo: <%s>\r\nSubject: doomed\r\nMessage-ID: <doomed@example.org>\r\n\r\nThe body comes back with RET=FULL.\r\n", from, to)
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.StatusText, "Message queued as ") {
		t.Errorf("reply to DATA: %q", resp.StatusText)
	}
	c.Quit()
}

// statusGroups parses a message/delivery-status body into its groups of
// fields (the per-message group first).
func statusGroups(t *testing.T, body []byte) []map[string]string {
	t.Helper()
	var groups []map[string]string
	for _, block := range strings.Split(strings.ReplaceAll(strings.TrimSpace(string(body)), "\r\n", "\n"), "\n\n") {
		g := map[string]string{}
		var last string
		for _, line := range strings.Split(block, "\n") {
			if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
				g[last] += " " + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("bad status line %q in:\n%s", line, body)
			}
			last = strings.ToLower(k)
			g[last] = strings.TrimSpace(v)
		}
		groups = append(groups, g)
	}
	return groups
}

// TestServeFailureNotice: a recipient the relay refuses with 550 gets the
// sender a failure notice from <>, delivered like any other message, with
// ENVID, ORCPT and RET=FULL honoured; a notice that fails in turn gets no
// notice.
func TestServeFailureNotice(t *testing.T) {
	k := startSink(t)
	db := newQueue(t)
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--relay", k.addr, "--hostname", "mx.test")
	sendDSN(t, srv.smtp, "alice@example.org", "perm-bob@example.com", "perm-bob@example.com", "env-42")
	waitFor(t, 10*time.Second, "the notice", func() bool { return len(k.messages()) == 1 })
	n := k.messages()[0]
	if n.from != "" || len(n.to) != 1 || n.to[0] != "alice@example.org" {
		t.Fatalf("notice from <%s> to %q", n.from, n.to)
	}
	msg, err := mailRead(n.data)
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("From"); !strings.Contains(got, "MAILER-DAEMON@mx.test") {
		t.Errorf("From: %q", got)
	}
	if got := msg.Header.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted: %q", got)
	}
	parts := reportParts(t, msg)
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	if parts[1].ctype != "message/delivery-status" || parts[2].ctype != "message/rfc822" {
		t.Errorf("parts: %s, %s", parts[1].ctype, parts[2].ctype)
	}
	groups := statusGroups(t, parts[1].body)
	if len(groups) != 2 {
		t.Fatalf("%d groups:\n%s", len(groups), parts[1].body)
	}
	want := []map[string]string{
		{"original-envelope-id": "env-42", "reporting-mta": "dns; mx.test"},
		{"final-recipient": "rfc822; perm-bob@example.com", "original-recipient": "rfc822; perm-bob@example.com",
			"action": "failed", "status": "5.1.1", "remote-mta": "dns; 127.0.0.1", "diagnostic-code": "smtp; 550 5.1.1 No such user here"},
	}
	norm := func(s string) string { return strings.ReplaceAll(s, "; ", ";") }
	for i, w := range want {
		for key, v := range w {
			if norm(groups[i][key]) != norm(v) {
				t.Errorf("group %d %s: %q, want %q", i, key, groups[i][key], v)
			}
		}
	}
	if !bytes.Contains(parts[2].body, []byte("The body comes back with RET=FULL.")) {
		t.Errorf("returned content without the body:\n%s", parts[2].body)
	}

	// A notice that cannot be delivered gets none in turn.
	sendDSN(t, srv.smtp, "perm-carol@example.org", "perm-dave@example.com", "perm-dave@example.com", "env-43")
	waitFor(t, 10*time.Second, "both bounces", func() bool {
		return strings.Count(srv.output(), "status=bounced") == 3
	})
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return strings.TrimSpace(mqsh(t, db, "queue", "list", "-o", "ids")) == "" })
	time.Sleep(500 * time.Millisecond)
	if c := strings.Count(srv.output(), "sender non-delivery notification"); c != 2 {
		t.Errorf("%d notices queued, want 2 (none about a notice):\n%s", c, srv.output())
	}
	if c := strings.Count(srv.output(), "status=bounced"); c != 3 {
		t.Errorf("%d bounces, want 3:\n%s", c, srv.output())
	}
}

// TestServeRetryFromAnotherProcess: a tempfailed message waits minutes for
// its retry; `queue retry` from another mqsh process brings it forward and
// the running server delivers it within seconds.
func TestServeRetryFromAnotherProcess(t *testing.T) {
	k := startSink(t)
	db := newQueue(t)
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--relay", k.addr)
	send(t, srv.smtp, "alice@example.org", []string{"temp-bob@example.com"}, "later")
	waitFor(t, 10*time.Second, "the deferral", func() bool { return strings.Contains(srv.output(), "status=deferred (451 4.5.3 Try again later)") })
	k.setTempfail(false)
	time.Sleep(time.Second)
	if len(k.messages()) != 0 {
		t.Fatal("retried before its time")
	}
	status := mqsh(t, db, "queue", "list")
	if !strings.Contains(status, "temp-bob@example.com") {
		t.Fatalf("not queued:\n%s", status)
	}
	start := time.Now()
	mqsh(t, db, "queue", "retry", "--all")
	waitFor(t, 5*time.Second, "the delivery after queue retry", func() bool { return len(k.messages()) == 1 })
	t.Logf("delivered %v after queue retry", time.Since(start).Round(time.Millisecond))
}

// TestServePauseResume: queue pause from another process stops a running
// server delivering (mail is still accepted and queued); queue resume
// delivers it.
func TestServePauseResume(t *testing.T) {
	k := startSink(t)
	db := newQueue(t)
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--relay", k.addr)
	if out := mqsh(t, db, "queue", "pause"); !strings.HasPrefix(out, "Delivery paused for ") {
		t.Errorf("queue pause said %q", out)
	}
	if out := mqsh(t, db, "queue", "pause"); !strings.HasPrefix(out, "Delivery was already paused for ") {
		t.Errorf("queue stop said %q", out)
	}
	time.Sleep(500 * time.Millisecond) // the server notices within its poll
	send(t, srv.smtp, "alice@example.org", []string{"bob@example.com"}, "paused")
	time.Sleep(2 * time.Second)
	if n := len(k.messages()); n != 0 {
		t.Fatalf("%d delivered while paused", n)
	}
	if ids := strings.Fields(mqsh(t, db, "queue", "list", "-o", "ids")); len(ids) != 1 {
		t.Fatalf("queued: %q", ids)
	}
	mqsh(t, db, "queue", "resume")
	waitFor(t, 5*time.Second, "the delivery after queue resume", func() bool { return len(k.messages()) == 1 })
}

// fillQueue queues n messages through a paused server that is then stopped.
func fillQueue(t *testing.T, db string, n int) {
	t.Helper()
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--relay", "127.0.0.1:1", "--paused")
	for i := range n {
		send(t, srv.smtp, "alice@example.org", []string{fmt.Sprintf("user%d@example.com", i)}, fmt.Sprintf("m%d", i))
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	mqsh(t, db, "queue", "resume")
}

// TestServeTwoServersOneQueue: two servers on one queue file deliver each
// message exactly once between them.
func TestServeTwoServersOneQueue(t *testing.T) {
	const n = 60
	k := startSink(t)
	k.slow = 20 * time.Millisecond // so that both servers have work at once
	db := newQueue(t)
	fillQueue(t, db, n)
	a := startServe(t, db, "--smtp", "none", "--relay", k.addr, "--node", "a", "--concurrency", "4")
	b := startServe(t, db, "--smtp", "none", "--relay", k.addr, "--node", "b", "--concurrency", "4")
	waitFor(t, 30*time.Second, "every delivery", func() bool { return len(k.messages()) >= n })
	time.Sleep(time.Second) // any second delivery would show now
	seen := map[string]int{}
	for _, m := range k.messages() {
		seen[m.to[0]]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("user%d@example.com", i)]; c != 1 {
			t.Errorf("user%d delivered %d times", i, c)
		}
	}
	if len(k.messages()) != n {
		t.Errorf("%d deliveries, want %d", len(k.messages()), n)
	}
	ca, cb := strings.Count(a.output(), "status=sent"), strings.Count(b.output(), "status=sent")
	t.Logf("server a delivered %d, server b %d", ca, cb)
	if ca+cb != n {
		t.Errorf("logged %d+%d deliveries, want %d", ca, cb, n)
	}
}

// TestServeKilledMidDelivery: a server killed (SIGKILL) in the middle of a
// delivery loses nothing: another server delivers the message once the
// first one's lease has run out.
func TestServeKilledMidDelivery(t *testing.T) {
	k := startSink(t)
	k.slow = 30 * time.Second // the first server is killed while it waits
	db := newQueue(t)
	fillQueue(t, db, 1)
	a := startServe(t, db, "--smtp", "none", "--relay", k.addr, "--lease", "3s")
	select {
	case <-k.dataSeen:
	case <-time.After(10 * time.Second):
		t.Fatalf("no delivery began:\n%s", a.output())
	}
	a.cmd.Process.Kill()
	<-a.done
	a.done <- nil
	k.mu.Lock()
	k.slow = 0
	k.mu.Unlock()
	if ids := strings.Fields(mqsh(t, db, "queue", "list", "-o", "ids")); len(ids) != 1 {
		t.Fatalf("after the kill the queue holds %q", ids)
	}
	start := time.Now()
	// With a lease of 3s the second server also looks for leases run out
	// every 3s (30s with the default lease).
	startServe(t, db, "--smtp", "none", "--relay", k.addr, "--lease", "3s")
	waitFor(t, 20*time.Second, "the delivery by the second server", func() bool { return len(k.messages()) >= 1 })
	t.Logf("delivered %v after the second server started (the lease was 3s)", time.Since(start).Round(time.Millisecond))
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return strings.TrimSpace(mqsh(t, db, "queue", "list", "-o", "ids")) == "" })
}

// TestServeSIGTERMMidDelivery: SIGTERM while a message is being delivered
// lets that delivery finish and be recorded, hands back what was claimed
// but not started, and exits 0; nothing is lost and nothing sent twice.
func TestServeSIGTERMMidDelivery(t *testing.T) {
	k := startSink(t)
	k.slow = 2 * time.Second
	db := newQueue(t)
	fillQueue(t, db, 3)
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--relay", k.addr, "--concurrency", "1")
	select {
	case <-k.dataSeen:
	case <-time.After(10 * time.Second):
		t.Fatalf("no delivery began:\n%s", srv.output())
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve exited with %v:\n%s", err, srv.output())
	}
	if n := len(k.messages()); n != 1 {
		t.Fatalf("%d delivered by the time serve stopped, want the one under way", n)
	}
	if c := strings.Count(srv.output(), "status=sent"); c != 1 {
		t.Errorf("%d deliveries logged, want 1:\n%s", c, srv.output())
	}
	if ids := strings.Fields(mqsh(t, db, "queue", "list", "-o", "ids")); len(ids) != 2 {
		t.Fatalf("after SIGTERM the queue holds %q, want the 2 not delivered", ids)
	}
	// The two handed back go at once to the next server: no lease to wait for.
	k.mu.Lock()
	k.slow = 0
	k.mu.Unlock()
	startServe(t, db, "--smtp", "none", "--relay", k.addr)
	waitFor(t, 3*time.Second, "the rest", func() bool { return len(k.messages()) == 3 })
	seen := map[string]int{}
	for _, m := range k.messages() {
		seen[m.to[0]]++
	}
	if len(seen) != 3 {
		t.Errorf("delivered %v", seen)
	}
}

// startDNS serves MX and A records on loopback (UDP): every domain's MX is
// mx.<domain> (preference 10), and every name's address is 127.0.0.1;
// nullmx.test has a null MX.
func startDNS(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		for _, q := range r.Question {
			hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 60}
			switch q.Qtype {
			case dns.TypeMX:
				hdr.Rrtype = dns.TypeMX
				if q.Name == "nullmx.test." {
					m.Answer = append(m.Answer, &dns.MX{Hdr: hdr, Preference: 0, Mx: "."})
				} else {
					m.Answer = append(m.Answer, &dns.MX{Hdr: hdr, Preference: 10, Mx: "mx." + q.Name})
				}
			case dns.TypeA:
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestServeMX: without a relay, mail goes to the MX host found through
// --dns; a null MX fails at once with a notice to the sender.
func TestServeMX(t *testing.T) {
	k := startSink(t)
	_, port, _ := net.SplitHostPort(k.addr)
	db := newQueue(t)
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--dns", startDNS(t), "--mx-port", port, "--hostname", "mx.test")
	send(t, srv.smtp, "alice@sender.test", []string{"bob@example.com"}, "via mx")
	waitFor(t, 10*time.Second, "the delivery", func() bool { return len(k.messages()) == 1 })
	if m := k.messages()[0]; m.to[0] != "bob@example.com" {
		t.Errorf("delivered to %q", m.to)
	}
	// The log line follows the sink's acceptance: it is written once the
	// outcome is recorded.
	want := "to=<bob@example.com> relay=mx.example.com[127.0.0.1]:" + port
	waitFor(t, 10*time.Second, "the log line "+want, func() bool { return strings.Contains(srv.output(), want) })
	send(t, srv.smtp, "alice@sender.test", []string{"carol@nullmx.test"}, "to a null mx")
	waitFor(t, 10*time.Second, "the notice", func() bool { return len(k.messages()) == 2 })
	if n := k.messages()[1]; n.from != "" || n.to[0] != "alice@sender.test" || !bytes.Contains(n.data, []byte("Status: 5.1.10")) {
		t.Errorf("notice from <%s> to %q:\n%s", n.from, n.to, n.data)
	}
}

// TestServeSettingsReachTheServer: limits from the configuration file and
// from flags reach the SMTP server; a flag wins over the file.
func TestServeSettingsReachTheServer(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mqsh.toml")
	os.WriteFile(cfg, []byte("[serve]\nmax-recipients = 2\nmax-message-size = \"1M\"\nhostname = \"from-file.test\"\nrelay = \"127.0.0.1:1\"\n"), 0o600)
	db := newQueue(t)
	srv := startServe(t, db, "--config", cfg, "--smtp", "127.0.0.1:0", "--max-message-size", "2k", "--paused")
	c, err := gosmtp.Dial(srv.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, size := c.Extension("SIZE"); !ok || size != "2048" {
		t.Errorf("SIZE %q, want 2048 (the flag over the file's 1M)", size)
	}
	if err := c.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{0, 0, 452} {
		err := c.Rcpt(fmt.Sprintf("r%d@example.com", i), nil)
		code := 0
		if e, ok := err.(*gosmtp.SMTPError); ok {
			code = e.Code
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Errorf("RCPT %d: %v, want %d", i+1, err, want)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "Subject: big\r\n\r\n%s", strings.Repeat(strings.Repeat("x", 70)+"\r\n", 45))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "552") {
		t.Errorf("a 3 KB message with --max-message-size 2k: %v, want 552", err)
	}
	if !strings.Contains(srv.output(), "as from-file.test") {
		t.Errorf("host name from the file not used:\n%s", srv.output())
	}
}

// TestServeCancelInFlight: queue cancel from another process while the
// message is being sent removes it at once; the transaction under way
// completes (the remote server has it once), and recording its outcome
// brings nothing back and sends no notice.
func TestServeCancelInFlight(t *testing.T) {
	k := startSink(t)
	k.slow = 2 * time.Second
	db := newQueue(t)
	fillQueue(t, db, 1)
	srv := startServe(t, db, "--smtp", "none", "--relay", k.addr)
	select {
	case <-k.dataSeen:
	case <-time.After(10 * time.Second):
		t.Fatalf("no delivery began:\n%s", srv.output())
	}
	mqsh(t, db, "queue", "cancel", "--all", "--yes")
	if ids := strings.TrimSpace(mqsh(t, db, "queue", "list", "-o", "ids")); ids != "" {
		t.Fatalf("still queued after cancel: %q", ids)
	}
	waitFor(t, 10*time.Second, "the transaction under way", func() bool { return len(k.messages()) == 1 })
	waitFor(t, 5*time.Second, "its outcome logged", func() bool { return strings.Contains(srv.output(), "status=sent") })
	time.Sleep(500 * time.Millisecond)
	if ids := strings.TrimSpace(mqsh(t, db, "queue", "list", "-o", "ids")); ids != "" {
		t.Errorf("the outcome brought the message back: %q", ids)
	}
	if strings.Contains(srv.output(), "notification") || len(k.messages()) != 1 {
		t.Errorf("%d delivered; log:\n%s", len(k.messages()), srv.output())
	}
}

// TestServePolicy: --policy's hooks reach both servers: on_arrival rejects
// a sender with its own reply and holds another's mail, route sends one
// domain to a host of its own (the relay refuses everything), and
// next_retry's wait replaces the schedule.
func TestServePolicy(t *testing.T) {
	k := startSink(t)
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.lua")
	os.WriteFile(policy, []byte(`
function on_arrival(msg)
  if msg.sender == "spam@example.org" then return "reject", "550 5.7.1 No spam here" end
  if msg.sender == "hold@example.org" then return "hold" end
end
function route(domain)
  if domain == "routed.test" then return "`+k.addr+`" end
end
function next_retry(domain, reply, attempt)
  if domain == "elsewhere.test" then return 5 * 3600 end
end
`), 0o600)
	db := newQueue(t)
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--relay", "127.0.0.1:1", "--policy", policy, "--connect-timeout", "2s")
	err := smtp.SendMail(srv.smtp, nil, "spam@example.org", []string{"bob@routed.test"}, []byte("Subject: buy\r\n\r\nnow\r\n"))
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "5.7.1 No spam here") {
		t.Errorf("on_arrival's reject: %v", err)
	}
	send(t, srv.smtp, "hold@example.org", []string{"held@routed.test"}, "held")
	send(t, srv.smtp, "alice@example.org", []string{"bob@routed.test"}, "routed")
	send(t, srv.smtp, "alice@example.org", []string{"carol@elsewhere.test"}, "refused")
	waitFor(t, 10*time.Second, "the routed delivery", func() bool { return len(k.messages()) == 1 })
	if m := k.messages()[0]; m.to[0] != "bob@routed.test" {
		t.Errorf("delivered %q", m.to)
	}
	waitFor(t, 10*time.Second, "the refused relay", func() bool { return strings.Contains(srv.output(), "to=<carol@elsewhere.test>") })
	time.Sleep(300 * time.Millisecond)
	st := mqsh(t, db, "queue", "list", "-o", "json")
	var held, deferred bool
	for _, line := range strings.Split(strings.TrimSpace(st), "\n") {
		if strings.Contains(line, "held@routed.test") {
			held = true // still queued: routed.test takes everything else at once
		}
		if strings.Contains(line, "carol@elsewhere.test") {
			deferred = true
			// next_retry said 5 hours: the schedule's first retry is 2 minutes.
			due := regexp.MustCompile(`"next_retry":"([^"]+)"`).FindStringSubmatch(line)
			if due == nil {
				t.Fatalf("no next_retry in %s", line)
			}
			at, err := time.Parse(time.RFC3339, due[1])
			if err != nil || time.Until(at) < 4*time.Hour {
				t.Errorf("next retry %s, want about 5h from now (next_retry's answer)", due[1])
			}
		}
	}
	if !held || !deferred {
		t.Errorf("held %v, deferred %v in:\n%s", held, deferred, st)
	}
	if len(k.messages()) != 1 {
		t.Errorf("%d delivered, want only the routed one", len(k.messages()))
	}
	if !regexp.MustCompile(`from=<hold@example\.org> size=\d+ nrcpt=1 \(held\)`).MatchString(srv.output()) {
		t.Errorf("hold not logged:\n%s", srv.output())
	}
}
