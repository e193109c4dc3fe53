package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
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

// route returns the hosts to try for domain, in order: the Route hook's
// HOST:PORT, the relay, or the MX hosts in preference order (the domain
// itself when it has no MX record).
func (d *Deliverer) route(ctx context.Context, domain string) ([]target, error) {
	hp := ""
	if d.cfg.Route != nil {
		hp = d.cfg.Route(domain)
	}
	if hp == "" {
		hp = d.cfg.Relay
	}
	if hp != "" {
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
