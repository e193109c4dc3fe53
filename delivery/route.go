package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// target is one host to try, with its addresses.
type target struct {
	host  string // the name, for the log: mx.example.com
	port  int
	addrs []string // IP addresses, tried in order
}

// routeError is why a domain has no host to try; perm is set when that is
// final (a null MX).
type routeError struct {
	reply Reply
	perm  bool
}

func (e *routeError) Error() string { return e.reply.String() }

// routeTTL is how long a domain's hosts found in DNS are reused.
const routeTTL = 30 * time.Second

// cachedRoute is a lookup result kept for routeTTL.
type cachedRoute struct {
	targets []target
	err     error
	until   time.Time
}

// route returns the hosts to try for domain (see lookupRoute), from a
// short cache: a domain's next messages do not ask DNS again. Only answers
// are kept, and a null MX; failed lookups are not.
func (d *Deliverer) route(ctx context.Context, domain string) ([]target, error) {
	if d.cfg.Route != nil {
		if hp := d.cfg.Route(domain); hp != "" {
			return d.hostRoute(ctx, hp) // a policy's answer is asked every time
		}
	}
	d.routeMu.Lock()
	c, ok := d.routes[domain]
	d.routeMu.Unlock()
	if ok && time.Now().Before(c.until) {
		return c.targets, c.err
	}
	t, err := d.lookupRoute(ctx, domain)
	var re *routeError
	if err == nil || errors.As(err, &re) && re.perm {
		d.routeMu.Lock()
		if len(d.routes) > 10000 {
			clear(d.routes)
		}
		d.routes[domain] = cachedRoute{targets: t, err: err, until: time.Now().Add(routeTTL)}
		d.routeMu.Unlock()
	}
	return t, err
}

// lookupRoute returns the hosts to try for domain, in order: the relay, or
// the MX hosts in preference order (the domain itself when it has no MX
// record).
func (d *Deliverer) lookupRoute(ctx context.Context, domain string) ([]target, error) {
	if d.cfg.Relay != "" {
		return d.hostRoute(ctx, d.cfg.Relay)
	}
	return d.mxRoute(ctx, domain)
}

// hostRoute is the one host of a HOST:PORT.
func (d *Deliverer) hostRoute(ctx context.Context, hp string) ([]target, error) {
	host, p, err := net.SplitHostPort(hp)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		return nil, &routeError{reply: Reply{Message: fmt.Sprintf("invalid relay %q: want HOST:PORT", hp)}}
	}
	t, err := d.resolve(ctx, host, port)
	if err != nil {
		return nil, err
	}
	return []target{t}, nil
}

// mxRoute is the MX hosts of domain in preference order.
func (d *Deliverer) mxRoute(ctx context.Context, domain string) ([]target, error) {
	mxs, err := d.resolver.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		if len(mxs) == 0 {
			return nil, &routeError{reply: Reply{Message: fmt.Sprintf("DNS lookup of MX for %s failed: %v", domain, err)}}
		}
	}
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		return nil, &routeError{perm: true, reply: Reply{Code: 556, Enhanced: "5.1.10", Message: fmt.Sprintf("Domain %s does not accept mail (null MX)", domain)}}
	}
	var names []string
	for _, mx := range mxs {
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			names = append(names, h)
		}
	}
	if len(names) == 0 {
		names = []string{domain} // implicit MX
	}
	var out []target
	var lastErr error
	for _, n := range names {
		t, err := d.resolve(ctx, n, d.cfg.Port)
		if err != nil {
			lastErr = err
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, lastErr
	}
	return out, nil
}

// resolve looks up the addresses of host (an IP address stands for itself).
func (d *Deliverer) resolve(ctx context.Context, host string, port int) (target, error) {
	t := target{host: host, port: port}
	if ip := net.ParseIP(host); ip != nil {
		t.addrs = []string{ip.String()}
		return t, nil
	}
	addrs, err := d.resolver.LookupIPAddr(ctx, host)
	if err != nil || len(addrs) == 0 {
		if err == nil {
			err = errors.New("no addresses")
		}
		return t, &routeError{reply: Reply{Message: fmt.Sprintf("DNS lookup of %s failed: %v", host, err)}}
	}
	for _, a := range addrs {
		t.addrs = append(t.addrs, a.IP.String())
	}
	return t, nil
}
