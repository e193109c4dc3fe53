package delivery

// Real peers on loopback for the tests: an SMTP server (go-smtp) playing the
// remote MTA, whose answer depends on the recipient's local part, and a DNS
// server (miekg/dns) serving MX and A records.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

// mta is the remote server. Recipients' local parts say what it answers:
// ok… accepts; temp… 451; perm… 550; once… 451 the first time, then
// accepts; slow… accepts after a pause in DATA; r421… 421 at RCPT;
// drop… closes the connection at RCPT.
type mta struct {
	addr  string // 127.0.0.1:port
	port  int
	slow  time.Duration
	mu    sync.Mutex
	got   map[string]int // deliveries per "recipient message-body-digest"
	msgs  []delivered
	tries map[string]int
	tls   int // sessions that ran over TLS
	conns int
	ready chan struct{} // a slow DATA has begun (buffered)
}

type delivered struct {
	from string
	to   []string
	body string
}

func startMTA(t *testing.T, withTLS bool) *mta {
	t.Helper()
	m := &mta{got: map[string]int{}, tries: map[string]int{}, slow: time.Second, ready: make(chan struct{}, 100)}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		m.mu.Lock()
		m.conns++
		m.mu.Unlock()
		return &mtaSession{m: m, c: c}, nil
	}))
	s.Domain = "mx.test"
	s.AllowInsecureAuth = true
	s.EnableDSN = true
	if withTLS {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	m.addr = l.Addr().String()
	m.port = l.Addr().(*net.TCPAddr).Port
	return m
}

func (m *mta) count(rcpt string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got[rcpt]
}

func (m *mta) all() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.got {
		out[k] = v
	}
	return out
}

type mtaSession struct {
	m     *mta
	c     *smtp.Conn
	from  string
	rcpts []string
}

func (s *mtaSession) Reset()        { s.from, s.rcpts = "", nil }
func (s *mtaSession) Logout() error { return nil }
func (s *mtaSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	if _, ok := s.c.TLSConnectionState(); ok {
		s.m.mu.Lock()
		s.m.tls++
		s.m.mu.Unlock()
	}
	return nil
}

func (s *mtaSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	local, _, _ := strings.Cut(to, "@")
	s.m.mu.Lock()
	s.m.tries[to]++
	n := s.m.tries[to]
	s.m.mu.Unlock()
	switch {
	case strings.HasPrefix(local, "temp"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Try again later"}
	case strings.HasPrefix(local, "perm"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	case strings.HasPrefix(local, "once") && n == 1:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Not yet"}
	case strings.HasPrefix(local, "r421"):
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too busy, closing"}
	case strings.HasPrefix(local, "drop"):
		s.c.Close()
		return io.EOF
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *mtaSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	for _, to := range s.rcpts {
		if strings.HasPrefix(to, "slow") {
			s.m.ready <- struct{}{}
			time.Sleep(s.m.slow)
			break
		}
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	for _, to := range s.rcpts {
		s.m.got[to+" "+firstLine(b)]++
		s.m.got[to]++
	}
	s.m.msgs = append(s.m.msgs, delivered{from: s.from, to: s.rcpts, body: string(b)})
	return nil
}

func firstLine(b []byte) string {
	l, _, _ := bytes.Cut(b, []byte("\r\n"))
	return string(l)
}

func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"mx.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startDNS serves zone: name -> records in presentation form ("MX 10 mx1.ok.test.",
// "A 127.0.0.1"). It returns HOST:PORT.
func startDNS(t *testing.T, zone map[string][]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(r)
		resp.Authoritative = true
		q := r.Question[0]
		name := strings.ToLower(q.Name)
		recs, known := zone[strings.TrimSuffix(name, ".")]
		if !known {
			resp.Rcode = dns.RcodeNameError
		}
		for _, rec := range recs {
			typ, _, _ := strings.Cut(rec, " ")
			if dns.StringToType[typ] != q.Qtype {
				continue
			}
			rr, err := dns.NewRR(name + " 60 IN " + rec)
			if err != nil {
				t.Errorf("bad test record %q: %v", rec, err)
				continue
			}
			resp.Answer = append(resp.Answer, rr)
		}
		w.WriteMsg(resp)
	})
	srv := &dns.Server{PacketConn: pc, Handler: h}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// count0 is count for a caller holding m.mu.
func (m *mta) count0(rcpt string) int { return m.got[rcpt] }
