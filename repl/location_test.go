package repl

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

func TestCredentials(t *testing.T) {
	env := func(creds string) func(string) string {
		return func(k string) string {
			if k == "MQSH_CREDENTIALS" {
				return creds
			}
			return ""
		}
	}
	var asked []string
	typed := func(secret string) func(string) (string, error) {
		return func(prompt string) (string, error) { asked = append(asked, prompt); return secret, nil }
	}
	cases := []struct {
		name    string
		flag    *string // -c; nil = not given
		env     string
		read    func(string) (string, error)
		want    string
		wantErr string
		asked   string
	}{
		{name: "none", want: ""},
		{name: "flag", flag: ptr("bill:s3cret"), want: "bill:s3cret"},
		{name: "bare secret stays as given (user admin)", flag: ptr("s3cret"), want: "s3cret"},
		{name: "api key", flag: ptr("api_YmlsbDpzM2NyZXQ="), want: "api_YmlsbDpzM2NyZXQ="},
		{name: "environment", env: "ops:pw", want: "ops:pw"},
		{name: "flag before environment", flag: ptr("bill:s3cret"), env: "ops:pw", want: "bill:s3cret"},
		{name: "secret with a colon", flag: ptr("bill:a:b:"), want: "bill:a:b:"},
		{name: "user only: asked on the terminal", flag: ptr("bill:"), read: typed("typed pw"), want: "bill:typed pw", asked: "Secret of bill: "},
		{name: "user only from the environment", env: "ops:", read: typed("x"), want: "ops:x", asked: "Secret of ops: "},
		{name: "user only without a terminal", flag: ptr("bill:"), wantErr: "--credentials names the user bill without a secret, and there is no terminal to ask for it: give USER:SECRET, or set MQSH_CREDENTIALS"},
		{name: "environment user only without a terminal", env: "ops:", wantErr: "MQSH_CREDENTIALS names the user ops without a secret"},
		{name: "nothing typed", flag: ptr("bill:"), read: typed(""), wantErr: "no secret typed for bill: nothing was opened"},
		{name: "terminal fails", flag: ptr("bill:"), read: func(string) (string, error) { return "", errors.New("EOF") }, wantErr: "read the secret of bill: EOF"},
		{name: "empty flag", flag: ptr(" "), env: "ops:pw", wantErr: "empty --credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			asked = nil
			w := QueueFlags{}
			if c.flag != nil {
				w.Credentials, w.CredentialsSet = *c.flag, true
			}
			got, err := Credentials(w, env(c.env), c.read)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("= %q, %v; want %q", got, err, c.want)
			}
			if strings.Join(asked, "|") != c.asked {
				t.Errorf("asked %q, want %q", asked, c.asked)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestOpenRemoteHook: a server location goes to OpenRemote when it is set,
// with the credentials resolved, and the commands then run on the backend
// it returns (here the SQLite engine behind a stand-in that is not it);
// unset, such a location is refused as before, and nothing is opened.
func TestOpenRemoteHook(t *testing.T) {
	getenv := func(k string) string {
		if k == "MQSH_CREDENTIALS" {
			return "ops:pw"
		}
		return ""
	}
	newEnv := func() (*Env, *bytes.Buffer) {
		var out bytes.Buffer
		return &Env{Streams: Streams{Stdout: &out, Stderr: &bytes.Buffer{}}, Session: Session{Now: func() time.Time { return cliNow }}}, &out
	}
	for _, loc := range []string{"https://mx.example.org:8080", "localhost:8080"} {
		env, _ := newEnv()
		_, _, err := OpenQueue(t.Context(), env, QueueFlags{URL: loc, URLSet: true}, getenv)
		if ExitCode(err) != 2 || !strings.Contains(fmt.Sprint(err), "remote queues are not supported yet: "+loc+" names a server") || env.Queue != nil {
			t.Fatalf("%s without OpenRemote: %v (queue %v)", loc, err, env.Queue)
		}
	}

	q, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{Now: func() time.Time { return cliNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.LoadDemo(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	server := newCountingBackend(q)
	server.location = "https://mx.example.org"
	var gotURL string
	var gotOpts RemoteOptions
	defer func(old func(string, RemoteOptions) (queue.Backend, error)) { OpenRemote = old }(OpenRemote)
	OpenRemote = func(url string, opts RemoteOptions) (queue.Backend, error) {
		gotURL, gotOpts = url, opts
		if opts.Credentials == "bad:pw" {
			return nil, errors.New("https://mx.example.org: wrong credentials (401)")
		}
		return server, nil
	}

	env, out := newEnv()
	loc, closeQueue, err := OpenQueue(t.Context(), env, QueueFlags{URL: "https://mx.example.org/", URLSet: true}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if gotURL != "https://mx.example.org/" || gotOpts.Credentials != "ops:pw" || gotOpts.Now == nil || gotOpts.Stderr == nil {
		t.Errorf("OpenRemote(%q, %+v)", gotURL, gotOpts)
	}
	if loc != "https://mx.example.org" || env.Queue != server {
		t.Errorf("location %q, queue %T", loc, env.Queue)
	}
	if err := Run(context.Background(), env, []string{"queue", "list", "-o", "ids", "-s", "<>"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "52B91F716\n" || server.calls["List"] == 0 {
		t.Errorf("list on the remote backend printed %q (calls %v)", out, server.calls)
	}
	closeQueue()
	if !server.closed {
		t.Error("the remote backend was not closed")
	}

	// -c comes before MQSH_CREDENTIALS; the client's error is the run's.
	env, _ = newEnv()
	_, _, err = OpenQueue(t.Context(), env, QueueFlags{URL: "mx.example.org:443", URLSet: true, Credentials: "bad:pw", CredentialsSet: true}, getenv)
	if err == nil || err.Error() != "https://mx.example.org: wrong credentials (401)" || env.Queue != nil {
		t.Errorf("bad credentials: %v (queue %v)", err, env.Queue)
	}
	// A user without a secret and no terminal: nothing is opened.
	gotURL = ""
	_, _, err = OpenQueue(t.Context(), env, QueueFlags{URL: "https://mx.example.org", URLSet: true, Credentials: "bill:", CredentialsSet: true}, getenv)
	if ExitCode(err) != 2 || gotURL != "" {
		t.Errorf("user without secret: %v, OpenRemote called with %q", err, gotURL)
	}
}

// A command that creates the queue (queue demo on a file that is still
// empty) while another process holds that file stops waiting for it when
// the command is interrupted (Ctrl-C cancels its context), with nothing
// changed, instead of waiting on regardless.
func TestCreatingAQueueStopsWaitingWhenInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	env := &Env{Streams: Streams{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr}, Session: Session{Now: func() time.Time { return cliNow }}}
	_, closeQueue, err := OpenQueue(t.Context(), env, QueueFlags{URL: path, URLSet: true}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer closeQueue()
	if env.Queue != nil || env.OpenQueue == nil {
		t.Fatal("an empty file was opened before a command asked for it: the test proves nothing")
	}
	other, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	release := time.AfterFunc(10*time.Second, func() { conn.ExecContext(context.Background(), "ROLLBACK"); close(released) })
	defer func() {
		if release.Stop() {
			conn.ExecContext(context.Background(), "ROLLBACK")
		} else {
			<-released
		}
	}()

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err = Run(ctx, env, []string{"queue", "demo"})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("queue demo went on for %s after it was interrupted at 100ms", d)
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped waiting") || !strings.Contains(err.Error(), "nothing changed") {
		t.Errorf("interrupted while the file was held: %v", err)
	}
	if env.Queue != nil {
		t.Error("the queue was opened all the same")
	}
}
