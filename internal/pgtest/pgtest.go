// Package pgtest gives tests a PostgreSQL database of their own: a throwaway
// cluster started once per test binary in a temporary folder (loopback, a free
// port, no fsync), or the server named by $MQSH_TEST_PG_URL, with one new
// database per test so tests can run in parallel.
//
// With $MQSH_TEST_PG_DURABLE=1 the throwaway cluster runs as a server that
// keeps what it commits does (fsync, full-page writes, synchronous commit,
// wal_level replica), for benchmarks that must say what durability costs.
//
// A package whose tests call URL wraps its testing.M with Wrap (or calls Main
// from TestMain) so the cluster is stopped and its folder removed at the end;
// should the test binary die first, the server follows it (it is started with
// a parent-death signal).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points the tests at an existing server
// instead of a throwaway cluster, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. Its user needs
// the right to create databases.
const EnvURL = "MQSH_TEST_PG_URL"

// EnvDurable names the variable that starts the throwaway cluster durable
// (see the package comment): "1" or "true".
const EnvDurable = "MQSH_TEST_PG_DURABLE"

// Durable reports whether $MQSH_TEST_PG_DURABLE asks for a durable cluster.
func Durable() bool {
	v := os.Getenv(EnvDurable)
	return v == "1" || v == "true"
}

// serverSettings are the settings the throwaway cluster runs with: no
// fsync (the tests' speed), or durable ones.
func serverSettings(durable bool) []string {
	if durable {
		return []string{"fsync=on", "full_page_writes=on", "synchronous_commit=on", "wal_level=replica"}
	}
	return []string{"fsync=off", "full_page_writes=off", "synchronous_commit=off", "wal_level=minimal", "max_wal_senders=0"}
}

// SkipMessage is what a test says when PostgreSQL is not installed.
const SkipMessage = "PostgreSQL not installed: apt-get install postgresql; the SQLite engine is tested anyway"

var (
	once    sync.Once
	shared  *cluster // nil until started, or when the start failed
	started error    // why the cluster could not start; errNotInstalled to skip
	wrapped atomic.Bool
	serial  atomic.Int64
)

var errNotInstalled = errors.New(SkipMessage)

// cluster is one running server and the URL of its maintenance database.
type cluster struct {
	admin string    // URL of a database to run CREATE/DROP DATABASE from
	cmd   *exec.Cmd // nil when the server is not ours ($MQSH_TEST_PG_URL)
	dir   string    // the temporary folder holding data, socket and log
	done  chan struct{}
}

// URL returns the URL of a new, empty database for this test, dropped when the
// test ends (register your own cleanups, such as closing a pool, after calling
// URL so they run first). It skips the test when PostgreSQL is not installed
// and no $MQSH_TEST_PG_URL is set; it fails the test when a server is there but
// does not work.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { shared, started = start() })
	if errors.Is(started, errNotInstalled) {
		t.Skip(SkipMessage)
	}
	if started != nil {
		t.Fatalf("pgtest: %v", started)
	}
	if shared.cmd != nil && !wrapped.Load() {
		t.Fatal("pgtest: wrap testing.M with pgtest.Wrap (or call pgtest.Main from TestMain) so the throwaway cluster is stopped at the end")
	}
	name := fmt.Sprintf("mqsh_test_%d_%d", os.Getpid(), serial.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shared.exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := shared.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(shared.admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Wrap returns m with a Run that stops the throwaway cluster (if one was
// started) after the tests, for TestMains that hand m to another runner such as
// testscript.Main.
func Wrap(m interface{ Run() int }) interface{ Run() int } {
	wrapped.Store(true)
	return runner{m}
}

// Main runs the tests of m and stops the throwaway cluster; call it from
// TestMain.
func Main(m *testing.M) {
	os.Exit(Wrap(m).Run())
}

type runner struct{ m interface{ Run() int } }

func (r runner) Run() int {
	code := r.m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// exec runs one statement on the maintenance database.
func (c *cluster) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// start finds a server: $MQSH_TEST_PG_URL, else a new cluster.
func start() (*cluster, error) {
	if u := os.Getenv(EnvURL); u != "" {
		c := &cluster{admin: u}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.exec(ctx, "SELECT 1"); err != nil {
			return nil, fmt.Errorf("$%s does not answer: %v", EnvURL, err)
		}
		return c, nil
	}
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: run them as postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and there is no user postgres to run the cluster as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "mqsh-pgtest-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "--auth=trust", "-U", "postgres",
		"--no-sync", "-E", "UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A free port can be taken between choosing and listening: try a few.
	var last error
	for range 5 {
		c, err := launch(bin, dir, data, cred)
		if err == nil {
			return c, nil
		}
		last = err
	}
	os.RemoveAll(dir)
	return nil, last
}

// launch starts postgres on a free loopback port and waits until it answers.
func launch(bin, dir, data string, cred *syscall.Credential) (*cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	argv := []string{"-D", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + dir, "-c", "max_connections=300"}
	for _, kv := range serverSettings(Durable()) {
		argv = append(argv, "-c", kv)
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), argv...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %v", err)
	}
	c := &cluster{
		admin: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		cmd:   cmd, dir: dir, done: make(chan struct{}),
	}
	go func() { cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			out, _ := os.ReadFile(log.Name())
			return nil, fmt.Errorf("postgres stopped at start:\n%s", tail(out))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.exec(ctx, "SELECT 1")
		cancel()
		if err == nil {
			return c, nil
		}
		time.Sleep(30 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-c.done
	out, _ := os.ReadFile(log.Name())
	return nil, fmt.Errorf("postgres did not answer within 30s:\n%s", tail(out))
}

// stop shuts the server down (fast shutdown, then a kill) and removes its folder.
func (c *cluster) stop() error {
	if c.cmd == nil {
		return nil
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	return os.RemoveAll(c.dir)
}

// findBin returns the folder holding initdb and postgres: Debian's newest
// /usr/lib/postgresql/N/bin, else the folder of initdb on $PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		d := filepath.Dir(p)
		if isFile(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errNotInstalled
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the last lines of a server log for an error message.
func tail(b []byte) []byte {
	const keep = 2000
	if len(b) > keep {
		b = b[len(b)-keep:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b
}
