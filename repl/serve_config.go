package repl

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"mqsh/queue"
)

// serveSettings are the settings of `serve`: the [serve] table of the
// --config file, overridden by the flags given. The TOML keys are the flag
// names (max-message-size = "10M"); users exist only in the file.
type serveSettings struct {
	SMTP           []string          `toml:"smtp"`
	HTTP           []string          `toml:"http"`
	Hostname       string            `toml:"hostname"`
	Relay          string            `toml:"relay"`
	DNS            string            `toml:"dns"`
	MXPort         int               `toml:"mx-port"`
	Paused         bool              `toml:"paused"`
	MaxMessageSize byteSize          `toml:"max-message-size"`
	CacheSize      byteSize          `toml:"cache-size"` // 0: defaultCacheSize
	MaxRecipients  int               `toml:"max-recipients"`
	Concurrency    int               `toml:"concurrency"`
	PerDomain      int               `toml:"per-domain"`
	ConnectTimeout duration          `toml:"connect-timeout"`
	CommandTimeout duration          `toml:"command-timeout"`
	DataTimeout    duration          `toml:"data-timeout"`
	ClientTimeout  duration          `toml:"client-timeout"`
	Lease          duration          `toml:"lease"`
	Retry          *durationList     `toml:"retry"`  // nil: queue.DefaultSchedule's
	Notify         *durationList     `toml:"notify"` // nil: queue.DefaultSchedule's; empty: no delay notices
	Expire         duration          `toml:"expire"` // 0: queue.DefaultSchedule's
	TLSCert        string            `toml:"tls-cert"`
	TLSKey         string            `toml:"tls-key"`
	RelayNetworks  []string          `toml:"relay-network"`
	Node           string            `toml:"node"`
	Log            string            `toml:"log"`
	Policy         string            `toml:"policy"`
	Users          map[string]string `toml:"users"` // AUTH user name -> bcrypt hash
}

// serveFile is the whole configuration file: serve's table, and the
// principals of the HTTP API (read by httpapi).
type serveFile struct {
	Serve     serveSettings    `toml:"serve"`
	Principal []toml.Primitive `toml:"principal"`
}

// loadServeSettings reads the [serve] table of the configuration file path
// ("" = none) and applies the flags of inv over it.
func loadServeSettings(path string, inv *Invocation) (serveSettings, error) {
	var f serveFile
	if path != "" {
		md, err := toml.DecodeFile(path, &f)
		if err != nil {
			return serveSettings{}, fmt.Errorf("configuration %s: %w", path, err)
		}
		var unknown []string
		for _, k := range md.Undecoded() {
			if len(k) > 0 && k[0] == "principal" {
				continue // httpapi's
			}
			unknown = append(unknown, k.String())
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return serveSettings{}, fmt.Errorf("configuration %s: unknown key %s: the keys of [serve] are the flags of serve without dashes (see 'mqsh serve --help')", path, strings.Join(unknown, ", "))
		}
	}
	s := f.Serve
	str := func(name string, dst *string) {
		if v, ok := inv.Set[name]; ok {
			*dst = v
		}
	}
	list := func(name string, dst *[]string) {
		if v, ok := inv.Lists[name]; ok && len(v) > 0 {
			*dst = v
		}
	}
	num := func(name string, dst *int) error {
		v, ok := inv.Set[name]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return usageFor(inv.Cmd, fmt.Sprintf("invalid --%s %q: want a whole number, 0 or more", name, v))
		}
		*dst = n
		return nil
	}
	dur := func(name string, dst *duration) error {
		v, ok := inv.Set[name]
		if !ok {
			return nil
		}
		if err := dst.set(v); err != nil {
			return usageFor(inv.Cmd, fmt.Sprintf("invalid --%s: %v", name, err))
		}
		return nil
	}
	list("smtp", &s.SMTP)
	list("http", &s.HTTP)
	list("relay-network", &s.RelayNetworks)
	for _, p := range []struct {
		name string
		dst  *string
	}{{"hostname", &s.Hostname}, {"relay", &s.Relay}, {"dns", &s.DNS}, {"tls-cert", &s.TLSCert}, {"tls-key", &s.TLSKey},
		{"node", &s.Node}, {"log", &s.Log}, {"policy", &s.Policy}} {
		str(p.name, p.dst)
	}
	if _, ok := inv.Set["paused"]; ok {
		s.Paused = true
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"max-recipients", &s.MaxRecipients}, {"concurrency", &s.Concurrency}, {"per-domain", &s.PerDomain}, {"mx-port", &s.MXPort}} {
		if err := num(p.name, p.dst); err != nil {
			return s, err
		}
	}
	for _, p := range []struct {
		name string
		dst  *byteSize
	}{{"max-message-size", &s.MaxMessageSize}, {"cache-size", &s.CacheSize}} {
		if v, ok := inv.Set[p.name]; ok {
			if err := p.dst.set(v); err != nil {
				return s, usageFor(inv.Cmd, fmt.Sprintf("invalid --%s: %v", p.name, err))
			}
		}
	}
	for _, p := range []struct {
		name string
		dst  *duration
	}{{"connect-timeout", &s.ConnectTimeout}, {"command-timeout", &s.CommandTimeout}, {"data-timeout", &s.DataTimeout}, {"client-timeout", &s.ClientTimeout}, {"lease", &s.Lease}, {"expire", &s.Expire}} {
		if err := dur(p.name, p.dst); err != nil {
			return s, err
		}
	}
	for _, p := range []struct {
		name string
		dst  **durationList
	}{{"retry", &s.Retry}, {"notify", &s.Notify}} {
		if v, ok := inv.Set[p.name]; ok {
			l := &durationList{}
			if err := l.set(v); err != nil {
				return s, usageFor(inv.Cmd, fmt.Sprintf("invalid --%s: %v", p.name, err))
			}
			*p.dst = l
		}
	}
	return s, s.check(inv.Cmd)
}

// check rejects settings that cannot work, naming the setting.
func (s *serveSettings) check(cmd *Command) error {
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return usageFor(cmd, "give --tls-cert and --tls-key together (the certificate chain and its private key), or neither for plain SMTP and HTTP")
	}
	if s.MXPort > 65535 {
		return usageFor(cmd, fmt.Sprintf("invalid --mx-port %d: want 1 to 65535", s.MXPort))
	}
	if s.MaxRecipients < 0 || s.Concurrency < 0 || s.PerDomain < 0 || s.MXPort < 0 {
		return usageFor(cmd, "max-recipients, concurrency, per-domain and mx-port must be 0 (the default) or more")
	}
	if _, err := s.relayNetworks(); err != nil {
		return usageFor(cmd, err.Error())
	}
	if s.Node != "" && (len(s.Node) > 64 || strings.IndexFunc(s.Node, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0) {
		return usageFor(cmd, fmt.Sprintf("invalid --node %q: want a name of up to 64 characters without spaces, such as mx1", s.Node))
	}
	if s.CacheSize != 0 && s.CacheSize < 1<<20 {
		return usageFor(cmd, fmt.Sprintf("invalid cache-size %d: want 1M or more", s.CacheSize))
	}
	if sched, ok := s.schedule(); ok {
		if err := sched.Check(); err != nil {
			return usageFor(cmd, err.Error()+" (the settings retry, notify and expire)")
		}
	}
	return nil
}

// schedule is the delivery schedule the settings ask for: Stalwart's
// (queue.DefaultSchedule) with the retry intervals, notify times and expiry
// given in their place. ok is false when none is given.
func (s *serveSettings) schedule() (sched queue.Schedule, ok bool) {
	sched = queue.DefaultSchedule
	if s.Retry != nil {
		sched.Retry, ok = []time.Duration(*s.Retry), true
	}
	if s.Notify != nil {
		sched.Notify, ok = []time.Duration(*s.Notify), true
	}
	if s.Expire != 0 {
		sched.Expire, ok = time.Duration(s.Expire), true
	}
	return sched, ok
}

// relayNetworks parses the relay networks; nil = the default (loopback).
func (s *serveSettings) relayNetworks() ([]netip.Prefix, error) {
	if len(s.RelayNetworks) == 0 {
		return nil, nil
	}
	out := []netip.Prefix{}
	for _, n := range s.RelayNetworks {
		if n == "none" {
			continue
		}
		p, err := netip.ParsePrefix(n)
		if err != nil {
			a, aerr := netip.ParseAddr(n)
			if aerr != nil {
				return nil, fmt.Errorf("invalid relay network %q: want an address or a network such as 192.0.2.0/24 (or none)", n)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}

// duration is a time.Duration written as Go writes it ("30s", "1h30m") or
// in mqsh's units ("5d").
type duration time.Duration

func (d *duration) set(v string) error {
	t, err := parseDuration(v)
	if err != nil || t < 0 {
		return fmt.Errorf("%q is not a duration: write it as 30s, 5m, 1h30m or 2d", v)
	}
	*d = duration(t)
	return nil
}

// durationList is a list of durations: in the file an array ["2m", "5m"]
// (or one string of them separated by commas), on the command line "2m,5m";
// "none" or an empty list is no durations at all.
type durationList []time.Duration

func (l *durationList) set(v string) error {
	out := durationList{}
	if t := strings.TrimSpace(v); t != "" && t != "none" {
		for _, f := range strings.Split(t, ",") {
			var d duration
			if err := d.set(strings.TrimSpace(f)); err != nil {
				return err
			}
			out = append(out, time.Duration(d))
		}
	}
	*l = out
	return nil
}

// UnmarshalTOML reads an array of durations ("2m" or seconds), or a string of them.
func (l *durationList) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		return l.set(x)
	case []any:
		out := durationList{}
		for _, e := range x {
			var d duration
			if err := d.UnmarshalTOML(e); err != nil {
				return err
			}
			out = append(out, time.Duration(d))
		}
		*l = out
		return nil
	}
	return fmt.Errorf("%v is not a list of durations: write it as [\"2m\", \"5m\", \"10m\"]", v)
}

// UnmarshalTOML reads a duration from a string ("30s") or a number of seconds.
func (d *duration) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		return d.set(x)
	case int64:
		if x >= 0 {
			*d = duration(time.Duration(x) * time.Second)
			return nil
		}
	}
	return fmt.Errorf("%v is not a duration: write it as \"30s\", \"5m\" or a number of seconds", v)
}

// byteSize is a size in bytes, written as a number or with a suffix k, M or
// G (powers of 1024).
type byteSize int64

func (b *byteSize) set(v string) error {
	s := strings.TrimSpace(v)
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, s = 1<<10, s[:n-1]
		case 'm', 'M':
			mult, s = 1<<20, s[:n-1]
		case 'g', 'G':
			mult, s = 1<<30, s[:n-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a size: write it in bytes, or as 512k, 25M or 1G", v)
	}
	*b = byteSize(n * mult)
	return nil
}

// UnmarshalTOML reads a size from a number of bytes or a string ("25M").
func (b *byteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		return b.set(x)
	case int64:
		return b.set(strconv.FormatInt(x, 10))
	}
	return fmt.Errorf("%v is not a size: write it in bytes, or as \"25M\"", v)
}
