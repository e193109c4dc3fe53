package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"mqsh/queue"
)

// Where the queue is, and opening it for a run of mqsh.

// demoGenerated is how many generated messages --demo adds to the documented six.
const demoGenerated = 1000

// QueueFlags are what the global options say of the queue: where it is,
// and how long a change waits for another process's write lock.
type QueueFlags struct {
	URL     string // -u/--url as given
	URLSet  bool   // -u was given (perhaps empty, which is refused)
	Demo    bool   // --demo: a fresh throwaway queue
	Wait    string // --wait as given
	WaitSet bool   // --wait was given
	// Credentials are -c/--credentials as given, for a remote queue;
	// CredentialsSet says -c was given (else $MQSH_CREDENTIALS is read).
	Credentials    string
	CredentialsSet bool
	// Insecure is --insecure: the server's TLS certificate is not checked.
	Insecure bool
	// HTTPTimeout is --http-timeout as given (each request to the server);
	// HTTPTimeoutSet says it was given.
	HTTPTimeout    string
	HTTPTimeoutSet bool
}

// RemoteOptions are what OpenRemote is given besides the server's URL.
type RemoteOptions struct {
	// Credentials as stalwart-cli takes them: USER:SECRET, a bare SECRET
	// (user admin), or an API key (api_...); "" = none given. They come from
	// -c or $MQSH_CREDENTIALS, with the secret asked for on the terminal when
	// only USER: was given.
	Credentials string
	Now         func() time.Time // the clock of the run
	Stderr      io.Writer        // where warnings go
	Insecure    bool             // --insecure: do not check the server's TLS certificate
	Timeout     time.Duration    // --http-timeout: bounds each request; 0 = the client's default
}

// OpenRemote opens the queue of the server -u or $MQSH_URL names (an http://
// or https:// URL, or host:port): the one place a remote backend is plugged
// in. nil, the default, refuses remote queues with a usage error. The
// backend it returns is closed when the run ends.
var OpenRemote func(url string, opts RemoteOptions) (queue.Backend, error)

// PostgresOptions are what OpenPostgres is given besides the URL.
type PostgresOptions struct {
	Now     func() time.Time   // the clock of the run
	Notices queue.NoticeWriter // writes a bounce's failure notices
}

// OpenPostgres opens the queue in the PostgreSQL database a postgres:// or
// postgresql:// URL names (package pgqueue). It is set by main, which
// wires the engines; nil means this build has no PostgreSQL engine.
var OpenPostgres func(ctx context.Context, url string, opts PostgresOptions) (queue.Backend, error)

// isPostgres reports whether loc names a PostgreSQL database.
func isPostgres(loc string) bool {
	l := strings.ToLower(loc)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// DefaultLocation is the per-user queue: $XDG_DATA_HOME/mqsh/queue.db, or
// ~/.local/share/mqsh/queue.db.
func DefaultLocation(getenv func(string) string) (string, error) {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "mqsh", "queue.db"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("no home directory for the default queue: give --url or set MQSH_URL")
		}
		home = h
	}
	return filepath.Join(home, ".local", "share", "mqsh", "queue.db"), nil
}

// remoteURL matches locations that name a server: a http(s) URL, or host:port.
var remoteURL = regexp.MustCompile(`^(?i:https?://|[a-z0-9.-]+:[0-9]+(/|$))`)

// isRemote reports whether a location names a server rather than a file.
func isRemote(loc string) bool { return remoteURL.MatchString(loc) }

// queuePath turns a location (a path, or a sqlite: or file: URL) into a file path.
func queuePath(loc string) (string, error) {
	if isRemote(loc) {
		return "", Usagef("remote queues are not supported yet: %s names a server; give a file path or a sqlite: URL", loc)
	}
	p := loc
	for _, scheme := range []string{"sqlite:", "file:"} {
		if rest, ok := strings.CutPrefix(p, scheme); ok {
			if strings.Contains(rest, "?") {
				return "", Usagef("%s: a queue URL names a file only; options such as ?mode=ro are not supported", loc)
			}
			p = strings.TrimPrefix(rest, "//")
			if u, err := url.PathUnescape(p); err == nil {
				p = u // sqlite:/var/spool/my%20queue.db
			}
			break
		}
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, rest)
		}
	}
	if p == "" {
		return "", Usagef("empty queue location %q: give a file path or a sqlite: URL", loc)
	}
	return p, nil
}

// OpenQueue opens the queue that -u, MQSH_URL, --demo or the default names
// into env.Queue, and returns its location and how to close it. When the file
// does not exist yet (or is empty), env.Queue stays nil and env.OpenQueue
// creates it for the first command that adds messages; any other command is
// told there is no queue there. A queue file created by this run that is left
// with no message and no audited change (the command that created it failed)
// is removed when it is closed (queue.Discard), so a failed import leaves no
// empty queue behind, unless another process has it open. Ending ctx
// (Ctrl-C) stops the opening while it waits for a file another process
// holds, with nothing changed.
func OpenQueue(ctx context.Context, env *Env, where QueueFlags, getenv func(string) string) (string, func(), error) {
	opts := queue.Options{Now: env.Now, Waiting: func(w queue.LockWait) { fmt.Fprintf(env.Stderr, "mqsh: %s\n", w) }, Notices: noticeWriter(env)}
	if where.WaitSet {
		d, err := parseDuration(where.Wait)
		if err != nil || d <= 0 {
			return "", nil, Usagef("invalid value '%s' for '--wait': want a duration such as 30s or 5m", where.Wait)
		}
		opts.LockWait = d
	}
	if where.Demo {
		if where.URLSet {
			return "", nil, Usagef("--demo opens its own queue: give either --demo or --url")
		}
		return openDemo(env, opts)
	}
	loc, isDefault := where.URL, false
	if where.URLSet && strings.TrimSpace(loc) == "" {
		return "", nil, Usagef("empty --url: give a file path or a sqlite: URL")
	}
	if loc == "" {
		loc = getenv("MQSH_URL")
	}
	if loc == "" {
		def, err := DefaultLocation(getenv)
		if err != nil {
			return "", nil, err
		}
		loc, isDefault = def, true
	}
	if isRemote(loc) && OpenRemote != nil {
		return openRemote(env, loc, where, getenv)
	}
	if isPostgres(loc) {
		if OpenPostgres == nil {
			return "", nil, Usagef("%s names a PostgreSQL database, and this mqsh was built without the PostgreSQL engine", queue.RedactURL(loc))
		}
		b, err := OpenPostgres(ctx, loc, PostgresOptions{Now: env.Now, Notices: noticeWriter(env)})
		if err != nil {
			return "", nil, err // the engine's errors name the database (without the password) and what to do
		}
		env.Queue = b
		return b.Location(), func() { b.Close() }, nil
	}
	path, err := queuePath(loc)
	if err != nil {
		return "", nil, err
	}
	if isDefault {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", nil, fmt.Errorf("create the directory of the default queue: %w", err)
		}
	}
	// The one place a local queue is opened: the SQLite engine, which
	// alone can discard a file it created.
	var local *queue.Queue
	open := func(ctx context.Context) error {
		q, err := queue.OpenContext(ctx, path, opts)
		if err != nil {
			return err // the engine's errors name the file and what to do
		}
		local, env.Queue = q, q
		return nil
	}
	closeQueue := func() {
		if local != nil {
			local.Close()
		}
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && st.Mode().IsRegular() && st.Size() == 0 {
		what := "no queue at " + path
		if err == nil {
			what += " (the file is empty)"
		}
		created := false
		env.OpenQueue = func(ctx context.Context, create bool) error {
			if !create {
				return fmt.Errorf("%s: check -u or MQSH_URL; queue demo, queue import or queue add creates a new one", what)
			}
			created = true
			return open(ctx)
		}
		return loc, func() {
			if created && local != nil {
				// The engine removes the file only if it is unused and no
				// other process has it open.
				local.Discard()
				return
			}
			closeQueue()
		}, nil
	}
	return loc, closeQueue, open(ctx)
}

// openDemo opens a fresh queue under the temp folder loaded with the demo
// messages, and says where it is.
func openDemo(env *Env, opts queue.Options) (string, func(), error) {
	dir, err := os.MkdirTemp("", "mqsh-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("create the demo queue: %w", err)
	}
	path := filepath.Join(dir, "queue.db")
	q, err := queue.Open(path, opts)
	if err != nil {
		return "", nil, fmt.Errorf("open the demo queue: %w", err)
	}
	res, err := q.LoadDemo(queue.WithSource(context.Background(), "cli --demo"), demoGenerated, 1)
	if err != nil {
		q.Close()
		return "", nil, fmt.Errorf("load the demo queue: %w", err)
	}
	fmt.Fprintf(env.Stderr, "mqsh: demo queue with %d messages at %s (open it again with: mqsh -u %s)\n", res.Count, path, path)
	env.Queue = q
	return path, func() { q.Close() }, nil
}

// openRemote opens the server's queue with OpenRemote into env.Queue, and
// returns the location to show (the backend's, without secrets).
func openRemote(env *Env, loc string, where QueueFlags, getenv func(string) string) (string, func(), error) {
	opts := RemoteOptions{Now: env.Now, Stderr: env.Stderr, Insecure: where.Insecure}
	if where.HTTPTimeoutSet {
		d, err := parseDuration(where.HTTPTimeout)
		if err != nil || d <= 0 {
			return "", nil, Usagef("invalid value '%s' for '--http-timeout': want a duration such as 10s or 2m", where.HTTPTimeout)
		}
		opts.Timeout = d
	}
	creds, err := Credentials(where, getenv, env.ReadSecret)
	if err != nil {
		return "", nil, err
	}
	opts.Credentials = creds
	b, err := OpenRemote(loc, opts)
	if err != nil {
		return "", nil, err // the client's errors name the server and what to do
	}
	env.Queue, env.Remote = b, true
	return b.Location(), func() { b.Close() }, nil
}

// Credentials are the credentials for a remote queue: -c when given, else
// $MQSH_CREDENTIALS, else none. USER: (a user and a colon, no secret) asks
// for the secret with readSecret, which reads it from the terminal without
// echo, so that it need not sit in the shell's history; without a terminal
// (readSecret nil) that is an error saying what to give instead.
func Credentials(where QueueFlags, getenv func(string) string, readSecret func(prompt string) (string, error)) (string, error) {
	creds, from := where.Credentials, "--credentials"
	if !where.CredentialsSet {
		creds, from = getenv("MQSH_CREDENTIALS"), "MQSH_CREDENTIALS"
	}
	if where.CredentialsSet && strings.TrimSpace(creds) == "" {
		return "", Usagef("empty --credentials: give USER:SECRET, a SECRET of user admin, an API key, or USER: to be asked for the secret")
	}
	user, ok := strings.CutSuffix(creds, ":")
	if !ok || user == "" || strings.Contains(user, ":") {
		return creds, nil
	}
	if readSecret == nil {
		return "", Usagef("%s names the user %s without a secret, and there is no terminal to ask for it: give USER:SECRET, or set MQSH_CREDENTIALS", from, user)
	}
	secret, err := readSecret(fmt.Sprintf("Secret of %s: ", user))
	if err != nil {
		return "", fmt.Errorf("read the secret of %s: %w", user, err)
	}
	if secret == "" {
		return "", Usagef("no secret typed for %s: nothing was opened", user)
	}
	return creds + secret, nil
}
