// Package smtpd accepts mail over SMTP and queues it: ESMTP with PIPELINING,
// 8BITMIME, SMTPUTF8, SIZE, ENHANCEDSTATUSCODES, DSN, FUTURERELEASE, STARTTLS
// and AUTH, over emersion/go-smtp. A message is acknowledged only once it is
// durable: concurrent sessions hand their messages to one committer, which
// writes them in shared transactions (group commit) and answers each session
// when its message is on disk.
//
// It is the first part of `mqsh serve`; delivery is another package's.
package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"mqsh/queue"
)

// Server accepts mail on any number of listeners and queues it in one
// queue.
type Server struct {
	q    queue.Backend
	cfg  Config
	smtp *smtp.Server
	com  *committer

	closing  atomic.Bool
	mu       sync.Mutex
	conns    map[*wireConn]struct{}
	logMu    sync.Mutex
	shutOnce sync.Once
	shutErr  error
	shutDone chan struct{} // closed when Shutdown has finished
}

// durable is a backend whose commits can be made synchronous (the SQLite
// queue).
type durable interface {
	SetDurable(ctx context.Context, on bool) error
}

// New makes a server that queues into q with the settings cfg. When q can
// make its commits synchronous (the SQLite queue can), New switches that on:
// a message is acknowledged only once it would survive a power loss.
func New(q queue.Backend, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("smtp server: %w", err)
	}
	if q.ReadOnly() {
		return nil, fmt.Errorf("smtp server: the queue %s is open read-only: open it writable to accept mail", q.Location())
	}
	if d, ok := q.(durable); ok {
		if err := d.SetDurable(context.Background(), true); err != nil {
			return nil, fmt.Errorf("smtp server: %w", err)
		}
	}
	s := &Server{q: q, cfg: cfg, conns: map[*wireConn]struct{}{}, shutDone: make(chan struct{})}
	s.com = newCommitter(q, cfg.BatchMax)
	ss := smtp.NewServer(smtp.BackendFunc(s.newSession))
	ss.Domain = cfg.Hostname
	ss.MaxMessageBytes = cfg.MaxMessageSize
	ss.MaxRecipients = 0 // counted by the session, for its own reply
	ss.ReadTimeout = cfg.ReadTimeout
	ss.WriteTimeout = cfg.WriteTimeout
	ss.AllowInsecureAuth = true // the session offers AUTH only over TLS or on loopback
	ss.EnableSMTPUTF8 = true
	ss.EnableDSN = true
	ss.ErrorLog = logAdapter{s}
	s.smtp = ss
	return s, nil
}

// Serve accepts connections on l until ctx ends or Shutdown is called. When
// ctx ends it shuts the server down (gracefully, for at most 30 seconds).
// Either way it returns nil once the shutdown is complete, every message
// acknowledged is committed, and the queue may be closed. Serve may run on
// several listeners at once.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if s.closing.Load() {
		return fmt.Errorf("smtp server: already shut down")
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Shutdown(sctx)
	})
	defer stop()
	s.logf("listening on %s as %s", l.Addr(), s.cfg.Hostname)
	err := s.smtp.Serve(listener{l, s})
	if s.closing.Load() {
		<-s.shutDone
		return nil
	}
	return err
}

// ListenAndServe listens on the TCP address addr (host:port) and serves
// there, as Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp server: %w", err)
	}
	return s.Serve(ctx, l)
}

// Shutdown stops accepting connections, says goodbye (421) to the clients
// waiting between commands, lets messages being received finish and be
// committed, and returns when every connection is closed. When ctx ends
// first the remaining connections are cut (what they had not been told was
// queued is not) and ctx's error is returned. Nothing acknowledged is lost.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() {
		s.closing.Store(true)
		s.mu.Lock()
		for w := range s.conns {
			w.kick()
		}
		s.mu.Unlock()
		err := s.smtp.Shutdown(ctx)
		if errors.Is(err, smtp.ErrServerClosed) {
			err = nil
		}
		if err != nil {
			s.smtp.Close()
		}
		s.com.close()
		s.shutErr = err
		s.logf("stopped")
		close(s.shutDone)
	})
	return s.shutErr
}

// listener wraps each accepted connection in a wireConn.
type listener struct {
	net.Listener
	s *Server
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	w := newWireConn(c, l.s)
	l.s.mu.Lock()
	l.s.conns[w] = struct{}{}
	l.s.mu.Unlock()
	l.s.logf("connect from %s", w.clientName())
	return w, nil
}

// forget drops a closed connection.
func (s *Server) forget(w *wireConn) {
	s.mu.Lock()
	delete(s.conns, w)
	s.mu.Unlock()
	s.logf("disconnect from %s", w.clientName())
}

// logf writes one log line: the time, then the event.
func (s *Server) logf(format string, args ...any) {
	line := s.cfg.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " smtpd: " + fmt.Sprintf(format, args...) + "\n"
	s.logMu.Lock()
	io.WriteString(s.cfg.Log, line)
	s.logMu.Unlock()
}

// logAdapter takes go-smtp's own error messages into the log.
type logAdapter struct{ s *Server }

func (l logAdapter) Printf(format string, v ...any) { l.s.logf("warning: "+format, v...) }
func (l logAdapter) Println(v ...any)               { l.s.logf("warning: %s", fmt.Sprint(v...)) }

// addrIP is the IP of a TCP address (unmapped), the zero Addr otherwise.
func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
