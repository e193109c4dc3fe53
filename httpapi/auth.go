package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Authentication, as Stalwart's: HTTP Basic (login trimmed and lower-cased)
// or an API key sent as "Bearer api_" + base64(name:secret), checked against
// the principals of the configuration file (or the quick-start admin of
// $MQSH_ADMIN_SECRET). Secrets are kept hashed and compared in constant
// time; a principal's role says whether it may change the queue. Failed
// logins are slowed down per client address.

// Role says what a principal may do.
type Role int

// Roles.
const (
	RoleViewer Role = iota + 1 // reads: list, get, status, metrics
	RoleAdmin                  // reads and changes: retry, cancel, stop, start
)

func (r Role) String() string {
	if r == RoleAdmin {
		return "admin"
	}
	return "viewer"
}

// Principal is who may log in.
type Principal struct {
	Name   string // login, lower case
	Role   Role
	verify func(secret []byte) bool // constant-time check of a secret
}

// AdminFromSecret is the quick-start principal: admin, role admin, with the
// given secret (kept as an HMAC under a key of this process, compared in
// constant time).
func AdminFromSecret(secret string) (*Principal, error) {
	if secret == "" {
		return nil, errors.New("the admin secret is empty: set MQSH_ADMIN_SECRET to a secret, or give --config FILE")
	}
	key := make([]byte, 32)
	rand.Read(key)
	want := mac(key, []byte(secret))
	return &Principal{Name: "admin", Role: RoleAdmin, verify: func(s []byte) bool {
		return hmac.Equal(mac(key, s), want)
	}}, nil
}

func mac(key, b []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(b)
	return h.Sum(nil)
}

// hashVerifier checks secrets against a stored bcrypt or argon2id hash.
func hashVerifier(hash string) (func([]byte) bool, error) {
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("secret: not a valid bcrypt hash (%v)", err)
		}
		h := []byte(hash)
		return func(s []byte) bool { return bcrypt.CompareHashAndPassword(h, s) == nil }, nil
	case strings.HasPrefix(hash, "$argon2id$"):
		a, err := parseArgon2id(hash)
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		return a.verify, nil
	case hash == "":
		return nil, errors.New("no secret: want secret = a bcrypt hash (htpasswd -nbBC 10 \"\" SECRET) or an argon2id one")
	}
	return nil, errors.New("secret: not a bcrypt ($2y$...) or argon2id ($argon2id$...) hash; mqsh never stores plain secrets (see the README for how to make a hash)")
}

// argon2idHash is a PHC string: $argon2id$v=19$m=65536,t=3,p=4$salt$hash.
type argon2idHash struct {
	memory     uint32
	time       uint32
	threads    uint8
	salt, hash []byte
}

func parseArgon2id(s string) (*argon2idHash, error) {
	parts := strings.Split(s, "$")
	bad := fmt.Errorf("not a valid argon2id hash: want $argon2id$v=19$m=MEMORY,t=TIME,p=THREADS$SALT$HASH")
	if len(parts) != 6 || parts[2] != "v=19" {
		return nil, bad
	}
	a := &argon2idHash{}
	var m, t, p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, bad
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return nil, bad
		}
	}
	if m == 0 || t == 0 || p == 0 || p > 255 {
		return nil, bad
	}
	a.memory, a.time, a.threads = uint32(m), uint32(t), uint8(p)
	var err error
	if a.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return nil, bad
	}
	if a.hash, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(a.hash) == 0 {
		return nil, bad
	}
	return a, nil
}

func (a *argon2idHash) verify(secret []byte) bool {
	got := argon2.IDKey(secret, a.salt, a.time, a.memory, a.threads, uint32(len(a.hash)))
	return subtle.ConstantTimeCompare(got, a.hash) == 1
}

// authenticator checks the credentials of requests.
type authenticator struct {
	principals map[string]*Principal
	throttle   *throttle

	// Verified credentials are remembered for a while, so that a client
	// sending the same Basic header on every request pays the hash (bcrypt,
	// argon2: tens of milliseconds by design) once. Keyed by an HMAC under a
	// key of this process.
	mu       sync.Mutex
	cacheKey []byte
	cache    map[[32]byte]cached
}

type cached struct {
	p       *Principal
	expires time.Time
}

const (
	cacheTTL  = 5 * time.Minute
	cacheSize = 1024
)

func newAuthenticator(ps []*Principal, t *throttle) *authenticator {
	a := &authenticator{principals: map[string]*Principal{}, throttle: t, cacheKey: make([]byte, 32), cache: map[[32]byte]cached{}}
	rand.Read(a.cacheKey)
	for _, p := range ps {
		a.principals[p.Name] = p
	}
	return a
}

// errNoCredentials: the request has no Authorization header.
var errNoCredentials = errors.New("no credentials")

// authenticate returns the request's principal. A failed login (wrong name,
// secret or form) waits as the throttle says before it returns.
func (a *authenticator) authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errNoCredentials
	}
	host := clientHost(r)
	leave, err := a.throttle.enter(r.Context(), host)
	if err != nil {
		return nil, err
	}
	defer leave()
	name, secret, ok := credentials(h)
	var p *Principal
	if ok {
		p = a.check(name, secret)
	}
	if p == nil {
		a.throttle.failed(r.Context(), host)
		return nil, errors.New("wrong credentials")
	}
	a.throttle.succeeded(host)
	return p, nil
}

// check verifies name and secret; nil when they are wrong.
func (a *authenticator) check(name, secret string) *Principal {
	var key [32]byte
	copy(key[:], mac(a.cacheKey, []byte(name+"\x00"+secret)))
	now := time.Now()
	a.mu.Lock()
	c, hit := a.cache[key]
	a.mu.Unlock()
	if hit && now.Before(c.expires) {
		return c.p
	}
	p := a.principals[name]
	if p == nil {
		// Spend the time a check would, so a wrong name and a wrong
		// secret look alike.
		dummy().verify([]byte(secret))
		return nil
	}
	if !p.verify([]byte(secret)) {
		return nil
	}
	a.mu.Lock()
	if len(a.cache) >= cacheSize {
		clear(a.cache)
	}
	a.cache[key] = cached{p: p, expires: now.Add(cacheTTL)}
	a.mu.Unlock()
	return p
}

// dummy is checked for unknown names (made on first use: a bcrypt hash
// takes time, which no other command should pay).
var dummy = sync.OnceValue(func() *Principal {
	h, _ := bcrypt.GenerateFromPassword([]byte("mqsh"), bcrypt.DefaultCost)
	v, _ := hashVerifier(string(h))
	return &Principal{verify: v}
})

// credentials reads the name and secret of an Authorization header: Basic,
// or a Stalwart API key (Bearer api_BASE64(name:secret)). The scheme's name
// is case-insensitive; the login is trimmed and lower-cased.
func credentials(h string) (name, secret string, ok bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	rest = strings.TrimSpace(rest)
	var enc string
	switch {
	case strings.EqualFold(scheme, "Basic"):
		enc = rest
	case strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(rest, "api_"):
		enc = rest[len("api_"):]
	default:
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(enc); err != nil {
			if b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "=")); err != nil {
				return "", "", false
			}
		}
	}
	name, secret, ok = strings.Cut(string(b), ":")
	if !ok {
		return "", "", false
	}
	return strings.ToLower(strings.TrimSpace(name)), secret, true
}

// clientHost is the address of the request's client, without the port.
func clientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// throttle slows down failed logins per client address: the n-th failure in
// a row waits base * 2^(n-1), at most max, before its answer, and a client
// address with failures tries one login at a time. A success, or quiet for
// forget, starts the count anew.
type throttle struct {
	base, max, forget time.Duration
	sleep             func(ctx context.Context, d time.Duration) // injected in tests

	mu      sync.Mutex
	strikes map[string]*strike
}

type strike struct {
	n    int
	last time.Time
	gate chan struct{} // held by the attempt under way (capacity 1)
}

// enter waits until host may try to log in. Once a host has failed, its
// attempts run one at a time, each failure's wait included, so parallel
// connections gain nothing. leave lets the next one in.
func (t *throttle) enter(ctx context.Context, host string) (leave func(), err error) {
	t.mu.Lock()
	s := t.strikes[host]
	t.mu.Unlock()
	if s == nil {
		return func() {}, nil
	}
	select {
	case s.gate <- struct{}{}:
		return func() { <-s.gate }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func newThrottle(base, max time.Duration) *throttle {
	return &throttle{base: base, max: max, forget: 15 * time.Minute, sleep: sleepCtx, strikes: map[string]*strike{}}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// failed records a failure of host and waits its delay.
func (t *throttle) failed(ctx context.Context, host string) {
	now := time.Now()
	t.mu.Lock()
	s := t.strikes[host]
	if s == nil || now.Sub(s.last) > t.forget {
		s = &strike{gate: make(chan struct{}, 1)}
		t.strikes[host] = s
	}
	s.n++
	s.last = now
	n := s.n
	if len(t.strikes) > 10000 { // forget the quiet ones
		for h, x := range t.strikes {
			if now.Sub(x.last) > t.forget {
				delete(t.strikes, h)
			}
		}
	}
	t.mu.Unlock()
	if t.base <= 0 {
		return
	}
	d := t.base
	for i := 1; i < n && d < t.max; i++ {
		d *= 2
	}
	t.sleep(ctx, min(d, t.max))
}

// succeeded forgets the failures of host.
func (t *throttle) succeeded(host string) {
	t.mu.Lock()
	delete(t.strikes, host)
	t.mu.Unlock()
}
