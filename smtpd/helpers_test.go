package smtpd

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mqsh/internal/testlog"
	"mqsh/queue"
)

// testNow is the clock of the queue and the server in most tests.
var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// syncBuffer is a log safe for concurrent sessions.
type syncBuffer struct{ testlog.Buffer }

// waitFor waits up to 5 seconds for the log to contain want.
func (s *syncBuffer) waitFor(t testing.TB, want string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if strings.Contains(s.String(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("log lacks %q:\n%s", want, s.String())
}

type testServer struct {
	s   *Server
	q   *queue.Queue
	log *syncBuffer
	ln  net.Listener
}

// start runs a server on a real queue, listening on 127.0.0.1 port 0;
// wrap, when set, wraps the listener (to show other addresses).
func start(t testing.TB, cfg Config, wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	now := func() time.Time { return testNow }
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: now, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{q: q, log: &syncBuffer{}}
	if cfg.Hostname == "" {
		cfg.Hostname = "mx.test"
	}
	if cfg.Now == nil {
		cfg.Now = now
	}
	cfg.Log = ts.log
	ts.s, err = New(q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.ln = ln
	var l net.Listener = ln
	if wrap != nil {
		l = wrap(ln)
	}
	done := make(chan error, 1)
	go func() { done <- ts.s.Serve(context.Background(), l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.s.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		q.Close()
	})
	return ts
}

func (ts *testServer) addr() string { return ts.ln.Addr().String() }

func (ts *testServer) count(t testing.TB) int {
	t.Helper()
	n, err := ts.q.Count(context.Background(), queue.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rawClient speaks SMTP by hand, line by line.
type rawClient struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	rc := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	if reply := rc.read(); !strings.HasPrefix(reply, "220 ") {
		t.Fatalf("greeting %q", reply)
	}
	return rc
}

// read reads one reply, its lines joined by \n.
func (rc *rawClient) read() string {
	rc.t.Helper()
	var lines []string
	for {
		line, err := rc.r.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("read reply: %v (so far %q)", err, lines)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// cmd sends one line and returns the reply.
func (rc *rawClient) cmd(line string) string {
	rc.t.Helper()
	rc.send(line + "\r\n")
	return rc.read()
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

// expect sends line and fails unless the reply starts with want.
func (rc *rawClient) expect(line, want string) string {
	rc.t.Helper()
	reply := rc.cmd(line)
	if !strings.HasPrefix(reply, want) {
		rc.t.Fatalf("%s: reply %q, want %q...", line, reply, want)
	}
	return reply
}

// testCert makes a self-signed certificate for 127.0.0.1 and a client
// configuration that trusts it.
func testCert(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.test"},
		DNSNames:     []string{"mx.test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool, ServerName: "mx.test"}
	return server, client
}

// addrListener makes accepted connections show other addresses, as if the
// listener and the client were elsewhere (the sockets stay on loopback).
type addrListener struct {
	net.Listener
	local, remote net.Addr
}

func (l addrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return addrConn{c, l.local, l.remote}, nil
}

type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c addrConn) LocalAddr() net.Addr {
	if c.local != nil {
		return c.local
	}
	return c.Conn.LocalAddr()
}

func (c addrConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}
