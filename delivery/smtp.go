package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mqsh/queue"
)

// conn is an open SMTP connection to one host address.
type conn struct {
	c   *smtp.Client
	key string // ip:port
}

// pool keeps idle connections per host address, so that a host's next
// messages reuse them.
type pool struct {
	d     *Deliverer
	mu    sync.Mutex
	idle  map[string][]*conn
	noTLS map[string]time.Time // addresses whose STARTTLS failed, until when plain is used
}

func newPool(d *Deliverer) *pool {
	return &pool{d: d, idle: map[string][]*conn{}, noTLS: map[string]time.Time{}}
}

func (p *pool) get(key string) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[key]
	if len(l) == 0 {
		return nil
	}
	c := l[len(l)-1]
	p.idle[key] = l[:len(l)-1]
	return c
}

func (p *pool) put(c *conn) {
	p.mu.Lock()
	if len(p.idle[c.key]) < p.d.cfg.Concurrency { // idle connections kept per host address
		p.idle[c.key] = append(p.idle[c.key], c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.quit()
	}
}

func (p *pool) closeAll() {
	p.mu.Lock()
	all := p.idle
	p.idle = map[string][]*conn{}
	p.mu.Unlock()
	for _, l := range all {
		for _, c := range l {
			c.quit()
		}
	}
}

func (c *conn) quit() {
	c.c.Quit()
	c.c.Close()
}

// greeted wraps a connection whose greeting (and EHLO) was read already: it
// replays a greeting for the go-smtp client, which then says EHLO again.
type greeted struct {
	net.Conn
	r *bufio.Reader
}

func (g *greeted) Read(b []byte) (int, error) { return g.r.Read(b) }

// dial connects to addr (ip:port) of host, greets with EHLO, and starts TLS
// when offered, unless it failed on this address before (then plain).
func (p *pool) dial(ctx context.Context, host, ip string, port int) (*conn, error) {
	d := p.d
	key := net.JoinHostPort(ip, strconv.Itoa(port))
	dl := net.Dialer{Timeout: d.cfg.ConnectTimeout}
	nc, err := dl.DialContext(ctx, "tcp", key)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(d.cfg.ConnectTimeout))
	tp := textproto.NewConn(nc)
	code, msg, err := tp.ReadResponse(220)
	if err != nil {
		nc.Close()
		return nil, replyErr(code, msg, err)
	}
	p.mu.Lock()
	plain := time.Now().Before(p.noTLS[key])
	p.mu.Unlock()
	var under net.Conn = nc
	if !plain {
		id, _ := tp.Cmd("EHLO %s", d.cfg.Hostname)
		tp.StartResponse(id)
		code, msg, err = tp.ReadResponse(250)
		tp.EndResponse(id)
		if err != nil && code == 0 {
			nc.Close()
			return nil, err
		}
		if err == nil && hasLine(msg, "STARTTLS") {
			id, _ = tp.Cmd("STARTTLS")
			tp.StartResponse(id)
			_, _, err = tp.ReadResponse(220)
			tp.EndResponse(id)
			if err == nil {
				tc := tls.Client(nc, d.tlsConfig(host))
				if err = tc.HandshakeContext(ctx); err == nil {
					under = tc
				}
			}
			if err != nil {
				// Fall back to plain text on a new connection.
				nc.Close()
				p.mu.Lock()
				p.noTLS[key] = time.Now().Add(time.Hour)
				p.mu.Unlock()
				return p.dial(ctx, host, ip, port)
			}
		}
	}
	under.SetDeadline(time.Time{})
	g := &greeted{Conn: under, r: bufio.NewReader(ioMulti("220 "+d.cfg.Hostname+" resumed\r\n", under))}
	c := smtp.NewClient(g)
	c.CommandTimeout, c.SubmissionTimeout = d.cfg.CommandTimeout, d.cfg.DataTimeout
	if err := c.Hello(d.cfg.Hostname); err != nil {
		c.Close()
		return nil, err
	}
	return &conn{c: c, key: key}, nil
}

// hasLine reports whether an EHLO reply names the extension ext.
func hasLine(msg, ext string) bool {
	for _, l := range strings.Split(msg, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

// prefixReader reads s, then r.
type prefixReader struct {
	s string
	r net.Conn
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if p.s != "" {
		n := copy(b, p.s)
		p.s = p.s[n:]
		return n, nil
	}
	return p.r.Read(b)
}

func ioMulti(s string, r net.Conn) *prefixReader { return &prefixReader{s: s, r: r} }

func replyErr(code int, msg string, err error) error {
	if code != 0 {
		return &smtp.SMTPError{Code: code, Message: msg}
	}
	return err
}

// replyOf turns an error of the SMTP client into a Reply; ok is false when
// it is not a server's reply.
func replyOf(err error) (Reply, bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r := Reply{Code: se.Code, Message: se.Message}
		if e := se.EnhancedCode; e[0] > 0 {
			r.Enhanced = fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
		}
		return r, true
	}
	return Reply{Message: err.Error()}, false
}

// connLost is an error that ends the use of a connection: the domain is
// tried on the next host (a network error, a timeout, a 421).
type connLost struct{ reply Reply }

func (e *connLost) Error() string { return e.reply.String() }

// deliver makes one delivery attempt of a claimed domain.
func (d *Deliverer) deliver(ctx context.Context, j *queue.Job) queue.Attempt {
	a := queue.Attempt{Lease: j.Lease}
	if j.Expired || len(j.Recipients) == 0 {
		a.Skipped = true
		return a
	}
	targets, err := d.route(ctx, j.Domain)
	if err != nil {
		var re *routeError
		errors.As(err, &re)
		if re != nil && re.perm {
			a.Reply = re.reply.String()
			for _, r := range j.Recipients {
				res := queue.RcptResult{Address: r.Address, Status: queue.PermFail, Code: re.reply.Code, Enhanced: re.reply.Enhanced, Message: re.reply.Message}
				a.Recipients = append(a.Recipients, res)
				d.logRcpt(j, "", res)
			}
			return a
		}
		return d.domainFail(j, "", Reply{Message: err.Error()})
	}
	var last Reply
	lastRelay := ""
	for _, t := range targets {
		for _, ip := range t.addrs {
			res, relay, err := d.tryHost(ctx, j, t, ip)
			if err == nil {
				a.Host, a.Recipients = relay, res
				var tmp *queue.RcptResult
				for i, r := range res {
					d.logRcpt(j, relay, r)
					if r.Status == queue.TempFail {
						tmp = &res[i]
					}
				}
				// The policy is asked once per domain, about its last
				// temporary failure (the retry is the domain's).
				if tmp != nil && d.cfg.NextRetry != nil {
					if w, ok := d.cfg.NextRetry(j.Domain, Reply{Code: tmp.Code, Enhanced: tmp.Enhanced, Message: tmp.Message}, j.RetryNum+1); ok {
						a.RetryAfter = w
					}
				}
				if len(res) > 0 {
					a.Reply = Reply{Code: res[len(res)-1].Code, Enhanced: res[len(res)-1].Enhanced, Message: res[len(res)-1].Message}.String()
				}
				return a
			}
			last, lastRelay = Reply{Message: err.Error()}, relay
			if cl, ok := err.(*connLost); ok {
				last = cl.reply
			}
		}
	}
	return d.domainFail(j, lastRelay, last)
}

// domainFail is a temporary failure of the whole domain.
func (d *Deliverer) domainFail(j *queue.Job, relay string, r Reply) queue.Attempt {
	a := queue.Attempt{Lease: j.Lease, Host: relay, DomainFail: true, Reply: r.String()}
	if d.cfg.NextRetry != nil {
		if w, ok := d.cfg.NextRetry(j.Domain, r, j.RetryNum+1); ok {
			a.RetryAfter = w
		}
	}
	for _, rc := range j.Recipients {
		d.logRcpt(j, relay, queue.RcptResult{Address: rc.Address, Status: queue.TempFail, Code: r.Code, Enhanced: r.Enhanced, Message: r.Message})
	}
	return a
}

// tryHost delivers j over a pooled or new connection to ip; an error means
// the host gave no answer for the recipients (try the next one).
func (d *Deliverer) tryHost(ctx context.Context, j *queue.Job, t target, ip string) ([]queue.RcptResult, string, error) {
	key := net.JoinHostPort(ip, strconv.Itoa(t.port))
	relay := fmt.Sprintf("%s[%s]:%d", t.host, ip, t.port)
	for {
		c := d.pool.get(key)
		reused := c != nil
		if c == nil {
			var err error
			if c, err = d.pool.dial(ctx, t.host, ip, t.port); err != nil {
				if r, ok := replyOf(err); ok {
					return nil, relay, &connLost{reply: r}
				}
				return nil, relay, &connLost{reply: Reply{Message: err.Error()}}
			}
		}
		res, err := d.transaction(c, j)
		if err == nil {
			d.pool.put(c)
			return res, relay, nil
		}
		c.c.Close()
		if reused {
			var cl *connLost
			if errors.As(err, &cl) && cl.reply.Code == 0 {
				continue // an idle connection the server had closed: once more on a new one
			}
		}
		return nil, relay, err
	}
}

// transaction sends j in one SMTP transaction on c.
func (d *Deliverer) transaction(c *conn, j *queue.Job) ([]queue.RcptResult, error) {
	lost := func(err error) error {
		r, _ := replyOf(err)
		return &connLost{reply: r}
	}
	final := func(err error) (Reply, error) {
		r, ok := replyOf(err)
		if !ok || r.Code == 421 {
			return r, lost(err)
		}
		return r, nil
	}
	opts := &smtp.MailOptions{Size: int64(len(j.Raw)), EnvelopeID: j.EnvID}
	switch j.Ret {
	case "FULL":
		opts.Return = smtp.DSNReturnFull
	case "HDRS":
		opts.Return = smtp.DSNReturnHeaders
	}
	if !isASCII(j.ReturnPath) {
		opts.UTF8 = true
	}
	if bytes.IndexFunc(j.Raw, func(r rune) bool { return r >= 0x80 }) >= 0 {
		opts.Body = smtp.Body8BitMIME
	}
	res := make([]queue.RcptResult, len(j.Recipients))
	all := func(r Reply) []queue.RcptResult {
		for i, rc := range j.Recipients {
			res[i] = result(rc.Address, r)
		}
		return res
	}
	if err := c.c.Mail(j.ReturnPath, opts); err != nil {
		r, err := final(err)
		if err != nil {
			return nil, err
		}
		c.c.Reset()
		return all(r), nil
	}
	var ok []int
	for i, rc := range j.Recipients {
		if err := c.c.Rcpt(rc.Address, rcptOptions(rc)); err != nil {
			r, err := final(err)
			if err != nil {
				return nil, err
			}
			res[i] = result(rc.Address, r)
			continue
		}
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		if err := c.c.Reset(); err != nil {
			return res, lost(err)
		}
		return res, nil
	}
	setAccepted := func(r Reply) {
		for _, i := range ok {
			res[i] = result(j.Recipients[i].Address, r)
		}
	}
	w, err := c.c.Data()
	if err != nil {
		r, err := final(err)
		if err != nil {
			return nil, err
		}
		setAccepted(r)
		c.c.Reset()
		return res, nil
	}
	if _, err := w.Write(j.Raw); err != nil {
		return nil, lost(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		r, err := final(err)
		if err != nil {
			return nil, err
		}
		setAccepted(r)
		return res, nil
	}
	r := Reply{Code: 250, Message: resp.StatusText}
	if f := strings.Fields(resp.StatusText); len(f) > 0 && isEnhanced(f[0]) {
		r.Enhanced, r.Message = f[0], strings.TrimSpace(strings.TrimPrefix(resp.StatusText, f[0]))
	}
	setAccepted(r)
	return res, nil
}

func result(addr string, r Reply) queue.RcptResult {
	st := queue.TempFail
	switch {
	case r.Code >= 200 && r.Code < 300:
		st = queue.Completed
	case r.Code >= 500:
		st = queue.PermFail
	}
	return queue.RcptResult{Address: addr, Status: st, Code: r.Code, Enhanced: r.Enhanced, Message: r.Message}
}

func rcptOptions(r queue.Recipient) *smtp.RcptOptions {
	o := &smtp.RcptOptions{}
	if t, v, ok := strings.Cut(r.ORCPT, ";"); ok && v != "" {
		o.OriginalRecipient = v
		o.OriginalRecipientType = smtp.DSNAddressTypeRFC822
		if strings.EqualFold(t, "utf-8") {
			o.OriginalRecipientType = smtp.DSNAddressTypeUTF8
		}
	}
	if r.Notify&queue.NotifyNever != 0 {
		o.Notify = []smtp.DSNNotify{smtp.DSNNotifyNever}
	} else {
		for _, p := range []struct {
			bit queue.Notify
			n   smtp.DSNNotify
		}{{queue.NotifySuccess, smtp.DSNNotifySuccess}, {queue.NotifyFailure, smtp.DSNNotifyFailure}, {queue.NotifyDelay, smtp.DSNNotifyDelayed}} {
			if r.Notify&p.bit != 0 {
				o.Notify = append(o.Notify, p.n)
			}
		}
	}
	return o
}

func isEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// logRcpt writes one line per recipient event, in Postfix's form, once the
// attempt is recorded (holdLog):
// 52B91F716: to=<rcpt> relay=host[ip]:port delay=1.2 dsn=2.0.0 status=sent (250 2.0.0 Ok)
func (d *Deliverer) logRcpt(j *queue.Job, relay string, r queue.RcptResult) {
	status := "deferred"
	switch r.Status {
	case queue.Completed:
		status = "sent"
	case queue.PermFail:
		status = "bounced"
	}
	if relay == "" {
		relay = "none"
	}
	dsn := r.Enhanced
	if dsn == "" {
		dsn = map[string]string{"sent": "2.0.0", "bounced": "5.0.0", "deferred": "4.0.0"}[status]
	}
	delay := time.Since(j.Created).Seconds()
	if delay < 0 {
		delay = 0
	}
	text := Reply{Code: r.Code, Enhanced: r.Enhanced, Message: r.Message}.String()
	line := fmt.Sprintf("%s: to=<%s> relay=%s delay=%.1f dsn=%s status=%s (%s)\n", j.Message, r.Address, relay, delay, dsn, status, oneLine(text))
	d.holdLog(j, line)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
