package repl

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

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

// queuePath turns a location (a path, or a sqlite: or file: URL) into a file path.
func queuePath(loc string) (string, error) {
	if remoteURL.MatchString(loc) {
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
// empty queue behind, unless another process has it open.
func OpenQueue(env *Env, where QueueFlags, getenv func(string) string) (string, func(), error) {
	opts := queue.Options{Now: env.Now, Waiting: func(w queue.LockWait) { fmt.Fprintf(env.Stderr, "mqsh: %s\n", w) }}
	if where.WaitSet {
		d, err := queue.ParseDuration(where.Wait)
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
	open := func() error {
		q, err := queue.Open(path, opts)
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
		env.OpenQueue = func(create bool) error {
			if !create {
				return fmt.Errorf("%s: check -u or MQSH_URL; queue demo, queue import or queue add creates a new one", what)
			}
			created = true
			return open()
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
	return loc, closeQueue, open()
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
