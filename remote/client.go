package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-json"

	"mqsh/queue"
)

// Options configure Open.
type Options struct {
	// Credentials as stalwart-cli takes them: "user:secret" (Basic), a bare
	// "secret" for user admin, or an API key "api_…" (Bearer). "user:" or ""
	// leaves the secret to Prompt.
	Credentials string
	// Prompt, when set, is asked for the secret of user when the credentials
	// carry none (the command line reads it from the terminal, unechoed).
	Prompt func(user string) (string, error)
	// Insecure skips the check of the server's TLS certificate (self-signed
	// test servers).
	Insecure bool
	// Timeout bounds each request, connection included; 0 = 60 s, as
	// stalwart-cli.
	Timeout time.Duration
	// Now is the clock (due bounds, summaries by age); nil = time.Now.
	Now func() time.Time
	// PageSize is how many whole messages a listing asks for at a time;
	// 0 = 1000.
	PageSize int
}

// DefaultTimeout is the request timeout when Options.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// DefaultPageSize is the listing page when Options.PageSize is 0.
const DefaultPageSize = 1000

// Client is a Stalwart server's queue, reached over its management API. It
// implements queue.Backend and is safe for use by several goroutines.
type Client struct {
	base     *url.URL // scheme, host and path prefix; no user info
	creds    credentials
	http     *http.Client
	timeout  time.Duration
	now      func() time.Time
	pageSize int

	mu      sync.Mutex
	apiSeen bool        // a queue route answered: a later 404 is about a message
	seen    *suggestSet // what was listed recently, for Suggest
}

var (
	_ queue.Backend = (*Client)(nil)
	_ queue.Batcher = (*Client)(nil)
)

// Open returns a client of the Stalwart server at rawURL, http(s)://HOST[:PORT]
// with an optional path prefix; a bare HOST:PORT means https. It asks the
// server nothing yet: the first verb does, and its error says what is wrong
// (credentials, permissions, TLS, a server without the REST queue API).
func Open(rawURL string, opts Options) (*Client, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	cred := opts.Credentials
	if u.User != nil && cred == "" {
		cred = u.User.Username()
		if p, ok := u.User.Password(); ok {
			cred += ":" + p
		} else {
			cred += ":"
		}
	}
	u.User = nil
	creds, err := parseCredentials(cred, opts.Prompt)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", u.Redacted(), err)
	}
	c := &Client{base: u, creds: creds, timeout: opts.Timeout, now: opts.Now, pageSize: opts.PageSize, seen: newSuggestSet()}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.pageSize <= 0 {
		c.pageSize = DefaultPageSize
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = applyWorkers
	if opts.Insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	c.http = &http.Client{Transport: t, Timeout: c.timeout,
		// A redirect would carry the credentials elsewhere: follow none.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

// parseURL reads http(s)://HOST[:PORT][/PREFIX] or a bare HOST:PORT.
func parseURL(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, kindf(ErrInvalidURL, nil, "invalid server URL %q: want http(s)://HOST[:PORT]", redactURL(raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, kindf(ErrInvalidURL, nil, "invalid server URL %q: the scheme must be http or https", redactURL(raw))
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, kindf(ErrInvalidURL, nil, "invalid server URL %q: no host: want http(s)://HOST[:PORT]", redactURL(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, kindf(ErrInvalidURL, nil, "invalid server URL %q: want no query or fragment, only http(s)://HOST[:PORT]", redactURL(raw))
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// redactURL hides a password written into a URL.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	if i := strings.Index(raw, "@"); i >= 0 {
		return "***" + raw[i:]
	}
	return raw
}

// Location is the server's URL, without credentials.
func (c *Client) Location() string { return c.base.String() }

// ReadOnly is false: whether a change is allowed is the server's to say (403).
func (c *Client) ReadOnly() bool { return false }

// Now is the client's clock, in whole seconds, UTC.
func (c *Client) Now() time.Time { return c.now().UTC().Truncate(time.Second) }

// Close lets go of idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// route names what a request does, for permission messages.
type route struct {
	method, path string
	query        url.Values
	permission   string // the Stalwart permission it needs
	// onOK, when set, sees the headers of a 200 answer before its body is
	// read.
	onOK func(http.Header)
}

// apiError is the problem+json body of an error answer.
type apiError struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// envelope is {"data": T} or {"error": kind, …} (sent with 200).
type envelope[T any] struct {
	Data    *T      `json:"data"`
	Error   *string `json:"error"`
	Details string  `json:"details"`
	Reason  string  `json:"reason"`
	Item    string  `json:"item"`
}

// call sends one request and decodes its {"data": …} into a T. found is
// false on a 404 (err nil): the caller says what was not found.
func call[T any](ctx context.Context, c *Client, r route) (out T, found bool, err error) {
	u := *c.base
	u.Path = c.base.Path + r.path
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), nil)
	if err != nil {
		return out, false, fmt.Errorf("request to %s: %w", c.Location(), err)
	}
	if c.creds.header != "" {
		req.Header.Set("Authorization", c.creds.header)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return out, false, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if r.onOK != nil && resp.StatusCode == http.StatusOK {
		r.onOK(resp.Header)
	}
	body, err := readBody(resp)
	if err != nil {
		return out, false, c.transportError(ctx, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return out, false, nil
	case http.StatusUnauthorized:
		who := "the API key"
		if c.creds.user != "" {
			who = "user " + c.creds.user
		}
		if c.creds.header == "" {
			who = "a request without credentials"
		}
		return out, false, kindf(ErrUnauthorized, nil, "%s refused %s (401 Unauthorized): check the credentials (-c user:secret, a bare secret for admin, or an api_ key)", c.Location(), who)
	case http.StatusForbidden:
		who := "the API key"
		if c.creds.user != "" {
			who = "user " + c.creds.user
		}
		return out, false, kindf(ErrForbidden, nil, "%s does not allow %s to %s (403 Forbidden): the account needs the %s permission", c.Location(), who, r.what(), r.permission)
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return out, false, kindf(ErrBadResponse, nil, "%s redirects %s to %q: give mqsh the URL it redirects to (redirects are not followed, so that credentials go nowhere else)", c.Location(), r.path, resp.Header.Get("Location"))
	default:
		var p apiError
		text := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &p) == nil && (p.Title != "" || p.Detail != "") {
			text = strings.TrimSpace(p.Title + ": " + p.Detail)
		}
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		return out, false, kindf(ErrBadResponse, nil, "%s answered %s to %s %s: %s", c.Location(), resp.Status, r.method, r.path, text)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		ct := resp.Header.Get("Content-Type")
		return out, false, kindf(ErrBadResponse, nil, "%s did not answer %s %s with JSON (Content-Type %q, starting %q): is the URL that of Stalwart's management API?", c.Location(), r.method, r.path, ct, snippet(trimmed))
	}
	var env envelope[T]
	if err := json.Unmarshal(body, &env); err != nil {
		return out, false, kindf(ErrBadResponse, err, "%s answered %s %s with JSON mqsh cannot read: %v", c.Location(), r.method, r.path, err)
	}
	if env.Error != nil {
		detail := strings.TrimSpace(strings.Join(nonEmpty(env.Details, env.Reason, env.Item), ": "))
		return out, false, kindf(ErrBadResponse, nil, "%s refused %s %s: %s %s", c.Location(), r.method, r.path, *env.Error, detail)
	}
	if env.Data == nil {
		return out, false, kindf(ErrBadResponse, nil, "%s answered %s %s without data", c.Location(), r.method, r.path)
	}
	c.mu.Lock()
	c.apiSeen = true
	c.mu.Unlock()
	return *env.Data, true, nil
}

func (r route) what() string {
	switch r.method {
	case http.MethodGet:
		return "read the queue"
	case http.MethodDelete:
		return "cancel messages"
	}
	if strings.HasPrefix(r.path, "/api/queue/status") {
		return "pause or resume delivery"
	}
	return "retry messages"
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func snippet(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// noQueueAPI is the error for a 404 on a route every v0.12-v0.15 server has.
func (c *Client) noQueueAPI() error {
	return kindf(ErrNoQueueAPI, nil, "%s has no queue API (/api/queue answers 404): Stalwart v0.16 and later moved the queue to JMAP, which mqsh does not speak (mqsh manages v0.12 to v0.15); or the URL is not that of a Stalwart server's management API", c.Location())
}

// notFound says what a 404 on a message route means: the message is gone,
// or (when no queue route has answered yet and the listing 404s too) the
// server has no queue API at all.
func (c *Client) notFound(ctx context.Context, id queue.ID) error {
	c.mu.Lock()
	seen := c.apiSeen
	c.mu.Unlock()
	if !seen {
		_, found, err := call[totalData](ctx, c, listRoute(url.Values{"limit": {"1"}}))
		if err != nil {
			return err
		}
		if !found {
			return c.noQueueAPI()
		}
	}
	return fmt.Errorf("message %s: %w", id, queue.ErrNotFound)
}

// readBody reads a whole answer, into one allocation when the server said
// its length (a page of a listing is most of a megabyte).
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= 64<<20 {
		var b bytes.Buffer
		b.Grow(int(n) + 1) // room for the EOF read
		_, err := b.ReadFrom(resp.Body)
		return b.Bytes(), err
	}
	return io.ReadAll(resp.Body)
}
