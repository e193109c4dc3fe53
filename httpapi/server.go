// Package httpapi is in charge of mqsh's HTTP server: Stalwart's queue
// management API (v0.12-v0.15) over any queue.Backend, its authentication
// and roles, and /metrics for Prometheus.
package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mqsh/queue"
)

// Options configure a Server.
type Options struct {
	Backend    queue.Backend
	Principals []*Principal // who may log in; at least one
	// ErrorLog receives what the server has to say (failed requests,
	// listener errors); nil = discard.
	ErrorLog io.Writer
	// FailDelay is the wait after a first failed login from a client
	// address; it doubles with each failure in a row, up to FailDelayMax.
	// 0 = 250 ms and 8 s; negative = no wait (tests).
	FailDelay, FailDelayMax time.Duration
	MaxBodyBytes            int64 // request bodies above are refused (413); 0 = 1 MiB
	// ReadHeaderTimeout is how long a client may take to send a request's
	// headers before the connection is closed; 0 = 10 s.
	ReadHeaderTimeout time.Duration
	// Node names the server in the audit rows of the changes it makes
	// ("http admin from ADDR on mx1"); "" = not named.
	Node string
}

// Server answers Stalwart's management API and /metrics.
type Server struct {
	b             queue.Backend
	auth          *authenticator
	log           *log.Logger
	maxBody       int64
	headerTimeout time.Duration
	reg           *prometheus.Registry
	metrics       *httpMetrics
	cursors       cursors
	handler       http.Handler
	node          string // Options.Node
}

// Timeouts of every listener.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 5 * time.Minute // a whole-queue listing takes a while
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	shutdownGrace     = 10 * time.Second
)

// New builds a server.
func New(o Options) (*Server, error) {
	if o.Backend == nil {
		return nil, errors.New("http server: no queue")
	}
	if len(o.Principals) == 0 {
		return nil, errors.New("http server: nobody may log in: give --config FILE with [[principal]] entries, or set MQSH_ADMIN_SECRET")
	}
	w := o.ErrorLog
	if w == nil {
		w = io.Discard
	}
	base, max := o.FailDelay, o.FailDelayMax
	if base == 0 {
		base = 250 * time.Millisecond
	}
	if max == 0 {
		max = 8 * time.Second
	}
	s := &Server{b: o.Backend, log: log.New(w, "mqsh serve: ", log.LstdFlags), maxBody: o.MaxBodyBytes, reg: prometheus.NewRegistry(), node: o.Node}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	s.headerTimeout = o.ReadHeaderTimeout
	if s.headerTimeout <= 0 {
		s.headerTimeout = readHeaderTimeout
	}
	s.auth = newAuthenticator(o.Principals, newThrottle(base, max))
	s.metrics = newHTTPMetrics(s.reg)
	s.reg.MustRegister(&queueCollector{b: o.Backend, log: s.log})
	s.handler = s.routes()
	return s, nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// TLSFiles are a certificate chain and its key, both PEM.
type TLSFiles struct{ Cert, Key string }

// Serve answers on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets running requests finish for a while, and returns nil.
// With tlsFiles set it speaks HTTPS.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsFiles *TLSFiles) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.headerTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          s.log,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if tlsFiles != nil {
		cert, err := tls.LoadX509KeyPair(tlsFiles.Cert, tlsFiles.Key)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls: load %s and %s: %w", tlsFiles.Cert, tlsFiles.Key, err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-done
	if err != nil {
		hs.Close()
		return fmt.Errorf("shut down %s: %w", ln.Addr(), err)
	}
	return nil
}
