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
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

var (
	mqshBinOnce sync.Once
	mqshBin     string
	mqshBinErr  error
)

// builtMQSH builds the mqsh program once per test run.
func builtMQSH(t *testing.T) string {
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
	dataSeen chan struct{} // a DATA has begun (buffered)
}

type sunk struct {
	from string
	to   []string
	data []byte
}

func startSink(t *testing.T) *sink {
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
	s.k.msgs = append(s.k.msgs, sunk{from: s.from, to: s.rcpts, data: b})
	s.k.mu.Unlock()
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
func startServe(t *testing.T, db string, args ...string) *server {
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
func (s *server) stop(t *testing.T) error {
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
	sent := regexp.MustCompile(`(?m)^\S+ delivery: [0-9A-F]+: to=<bob@example\.com> relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+ delay=\d+\.\d dsn=2\.0\.0 status=sent \(250 .*\)$`)
	if !sent.MatchString(log) || !strings.Contains(log, " smtpd: ") {
		t.Errorf("log:\n%s", log)
	}
	if len(k.messages()) != 1 {
		t.Errorf("delivered %d times", len(k.messages()))
	}
}
