package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// ErrReadOnly is returned by every write verb of a queue opened read-only, either
// because Options.ReadOnly was set or because the file cannot be written.
var ErrReadOnly = errors.New("the queue is open read-only")

// driverName is the database/sql driver the queue opens: mattn/go-sqlite3
// with memory-mapped reads, which halve the cost of scanning a big queue.
const driverName = "sqlite3-mqsh"

// sqliteDriver is that driver, registered as driverName; every connection
// also gets the filters' SQL functions.
var sqliteDriver = &sqlite3.SQLiteDriver{
	ConnectHook: func(c *sqlite3.SQLiteConn) error {
		if _, err := c.Exec("PRAGMA mmap_size = 1073741824", nil); err != nil {
			return err
		}
		return registerFuncs(c)
	},
}

func init() { sql.Register(driverName, sqliteDriver) }

// applicationID marks an SQLite file as an mqsh queue ("mqsh" in ASCII).
const applicationID = 0x6d717368

// busyTimeout is how long a read connection lets SQLite wait for a lock (a
// reader of a WAL file waits only while another connection recovers it).
const busyTimeout = 60 * time.Second

// writerBusyTimeout is how long SQLite itself waits for the write lock on a
// write connection before handing back to waitLock, which waits on in Go.
const writerBusyTimeout = 50 * time.Millisecond

// Queue is an open queue database. It is safe for concurrent use, and several
// processes may open the same file at once: writes are serialised by SQLite
// (immediate transactions; a writer waits for another's lock as lock.go
// says), reads run concurrently (WAL).
type Queue struct {
	path     string
	abs      string  // the absolute path
	lock     dirLock // shared lock on the directory while open (see file.go)
	created  bool    // this handle created the file or its schema
	writer   *sql.DB // one connection, BEGIN IMMEDIATE; nil when read-only
	deferred *sql.DB // read-write connections, BEGIN DEFERRED (UpdateDeferred); opened on first use
	defOnce  sync.Once
	defErr   error
	ingest   *sql.DB // one connection for Ingest (ingest.go); opened on first use
	ingOnce  sync.Once
	ingFlush ingestFlush    // the flush of Ingest's commits (ingest_flush.go)
	wrote    atomic.Bool    // a write transaction ran (PRAGMA optimize at Close)
	durable  atomic.Bool    // write connections open with synchronous = FULL (SetDurable)
	userOnce sync.Once      // user is looked up at the first change
	lockWait time.Duration  // Options.LockWait
	waiting  func(LockWait) // Options.Waiting
	reader   *sql.DB        // a pool of read-only connections
	readOnly bool
	roFile   bool // read-only because the file cannot be written
	sched    Schedule
	cacheKiB int64 // page cache of each write connection; 0 = defaultCacheKiB (LimitCache)
	now      func() time.Time
	user     string
	notices  NoticeWriter // Options.Notices

	closeOnce sync.Once

	trashMu   sync.Mutex
	trashCols map[string]string // live table -> its columns, once its trash table has them all (trash.go)

	removeLater int // the most messages a removal moves to the trash in its own transaction (removals.go)
}

// beforeMigrateHook, when set (by tests), runs in Open after the schema was
// read and before the writer brings it up to date.
var beforeMigrateHook func()

// Open opens the queue database at path, creating it (and its schema) when the
// file does not exist. The directory must exist. A file that is not SQLite, a
// damaged file, a file with a newer schema than this program knows, and a
// missing directory each give an error that says what to do. A file without
// write permission is opened read-only: reads work, writes return ErrReadOnly.
func Open(path string, opts Options) (*Queue, error) {
	return OpenContext(context.Background(), path, opts)
}

// OpenContext is Open under a context: while another process holds the
// file or its write lock and the schema must be read or brought up to
// date, opening waits as a change does (Options.LockWait, Options.Waiting),
// and ctx ending (Ctrl-C) stops the wait with nothing changed. The queue
// does not keep ctx.
func OpenContext(ctx context.Context, path string, opts Options) (*Queue, error) {
	if path == "" {
		return nil, errors.New("open queue: no file given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	q := &Queue{path: path, readOnly: opts.ReadOnly, sched: opts.Schedule, now: opts.Now, user: opts.User,
		lockWait: opts.LockWait, waiting: opts.Waiting, notices: opts.Notices, removeLater: removeLater}
	if len(q.sched.Retry) == 0 && len(q.sched.Notify) == 0 && q.sched.Expire == 0 {
		q.sched = DefaultSchedule
	}
	if q.sched.Expire <= 0 {
		q.sched.Expire = DefaultSchedule.Expire
	}
	if q.now == nil {
		q.now = time.Now
	}

	q.abs = abs
	dir := filepath.Dir(abs)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("open queue %s: directory %s does not exist: create it first (mkdir -p %s)", path, dir, dir)
	}
	q.lock = lockDir(dir)
	created, err := q.prepareFile(abs)
	if err != nil {
		q.lock.release()
		return nil, err
	}
	q.created = created

	// The schema is checked on a read connection: a command that only reads
	// never connects the writer (connections are made on first use), and a
	// file that is refused is never opened for writing.
	if !q.readOnly {
		err = q.openWriter(abs)
	}
	var migrate bool
	if err == nil {
		migrate, err = q.openReader(ctx, abs)
	}
	if err == nil && migrate {
		if beforeMigrateHook != nil {
			beforeMigrateHook()
		}
		if err = q.migrate(ctx); err != nil {
			err = q.openError(ctx, err)
		}
	}
	if err != nil {
		// A file this call created and could not make a queue of (a full
		// disk) is not left behind.
		if q.created {
			q.closeOnce.Do(func() { q.closeAndRemoveIfUnused() })
		} else {
			q.Close()
		}
		return nil, err
	}
	return q, nil
}

// resolveUser fills in the OS user, recorded in the audit log, before the
// first change: a command that only reads never looks it up (a lookup may
// ask a directory service).
func (q *Queue) resolveUser() {
	q.userOnce.Do(func() {
		if q.user == "" {
			q.user = OSUser()
		}
	})
}

// OSUser is the user recorded in the audit log when Options.User is empty:
// the OS user's name, else $USER, else "unknown".
func OSUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if s := os.Getenv("USER"); s != "" {
		return s
	}
	return "unknown"
}

func dsn(abs string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: abs, RawQuery: params.Encode()}
	return u.String()
}

// defaultCacheKiB is the page cache of a write connection: 256 MiB, so that
// bulk changes to a big queue stay in memory.
const defaultCacheKiB = 262144

// writerStmtCache is how many prepared statements a write connection keeps.
const writerStmtCache = 64

// writerParams are the connection settings of the write connections, with
// a page cache of cacheKiB (0 = defaultCacheKiB).
func writerParams(txlock string, cacheKiB int64) url.Values {
	if cacheKiB <= 0 {
		cacheKiB = defaultCacheKiB
	}
	p := url.Values{}
	p.Set("_txlock", txlock)
	p.Set("_busy_timeout", fmt.Sprint(writerBusyTimeout.Milliseconds()))
	// database/sql hands a connection to one goroutine at a time, so SQLite
	// need not lock each call (a tenth of the CPU of a long listing).
	p.Set("_mutex", "no")
	// The schema declares the foreign keys (PRAGMA foreign_key_check reads
	// them), but the write connections do not enforce them: the verbs that
	// remove messages delete their rows in every table themselves
	// (orphans_test.go holds them to it). Enforced, each removed message cost
	// a cascade lookup in every child table, and a removal of the whole
	// queue could not clear the tables at once (BENCHMARKS.md: the messages'
	// delete of a 25,000-message cancel took three times the CPU).
	p.Set("_foreign_keys", "off")
	p.Set("_synchronous", "NORMAL")
	p.Set("_cache_size", fmt.Sprint(-cacheKiB)) // negative: KiB
	// Each connection keeps its last statements prepared, so that a verb
	// run again (the SMTP server's group commit, a batch at a time) does
	// not compile the same SQL in every transaction.
	p.Set("_stmt_cache_size", fmt.Sprint(writerStmtCache))
	return p
}

func (q *Queue) openWriter(abs string) error {
	db := sql.OpenDB(writerConnector{q: q, abs: abs, txlock: "immediate"})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	q.writer = db
	return nil
}

// writerConnector opens write connections (BEGIN txlock) with
// writerParams; each follows the queue's durability (SetDurable), set when
// it opens and checked again whenever database/sql hands it out (writeConn).
type writerConnector struct {
	q      *Queue
	abs    string
	txlock string
	ingest bool // Ingest's connection: statement journals in memory (ingest.go)
}

func (c writerConnector) Connect(context.Context) (driver.Conn, error) {
	p := writerParams(c.txlock, c.q.cacheKiB)
	// Ingest's connection commits without a flush whatever SetDurable says:
	// its commits are flushed by Ingest's wait (ingest_flush.go).
	full := c.q.durable.Load() && !c.ingest
	if full {
		p.Set("_synchronous", "FULL")
	}
	dc, err := sqliteDriver.Open(dsn(c.abs, p))
	if err != nil {
		return nil, err
	}
	if c.ingest {
		if _, err := dc.(*sqlite3.SQLiteConn).Exec(ingestPragmas, nil); err != nil {
			dc.Close()
			return nil, err
		}
	}
	return &writeConn{SQLiteConn: dc.(*sqlite3.SQLiteConn), q: c.q, full: full, ingest: c.ingest}, nil
}

func (c writerConnector) Driver() driver.Driver { return sqliteDriver }

// writeConn is a write connection that keeps to the queue's durability:
// database/sql resets a connection before it hands it out again, outside
// any transaction, and the reset switches synchronous when SetDurable has
// changed it since. The SQLite connection's methods are its own.
type writeConn struct {
	*sqlite3.SQLiteConn
	q      *Queue
	full   bool // synchronous = FULL on this connection, else NORMAL
	ingest bool // Ingest's connection: NORMAL always (ingest_flush.go)

	args []driver.NamedValue // the arguments of the last boundArgs query, for reuse (insertrows.go)
}

// ResetSession is database/sql's reset before reuse (driver.SessionResetter).
func (c *writeConn) ResetSession(ctx context.Context) error {
	want := c.q.durable.Load() && !c.ingest
	if want == c.full {
		return nil
	}
	mode := "NORMAL"
	if want {
		mode = "FULL"
	}
	if _, err := c.SQLiteConn.ExecContext(ctx, "PRAGMA synchronous = "+mode, nil); err != nil {
		return driver.ErrBadConn // database/sql then opens another, which the connector sets
	}
	c.full = want
	return nil
}

// deferredDB returns the pool of UpdateDeferred, opening it on first use.
func (q *Queue) deferredDB() (*sql.DB, error) {
	q.defOnce.Do(func() {
		db := sql.OpenDB(writerConnector{q: q, abs: q.abs, txlock: "deferred"})
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(deferredIdleConns)
		q.deferred = db
	})
	return q.deferred, q.defErr
}

// openReader opens the pool of read connections and checks the schema on
// it; migrate says whether the writer must bring the file up to date.
func (q *Queue) openReader(ctx context.Context, abs string) (migrate bool, err error) {
	p := url.Values{}
	p.Set("mode", "ro")
	// Connecting waits in Go (readerConnector), then statements in SQLite.
	p.Set("_busy_timeout", fmt.Sprint(writerBusyTimeout.Milliseconds()))
	p.Set("_mutex", "no") // see writerParams
	// Reads asked again and again (delivery's look at the pause and the
	// next due time after every group commit of serve) are not compiled
	// each time.
	p.Set("_stmt_cache_size", fmt.Sprint(writerStmtCache))
	wal, walErr := os.Stat(abs + "-wal")
	noWAL := errors.Is(walErr, fs.ErrNotExist)
	if q.writer == nil && noWAL && !anyWriteBit(abs) {
		// A file no one may write (chmod a-w), with no -wal: no writer is
		// at work on it and none may start, so it is read as it is, without
		// the -wal and -shm files SQLite would otherwise leave beside it.
		p.Set("immutable", "1")
	}
	open := func() error {
		db := sql.OpenDB(readerConnector{q: q, dsn: dsn(abs, p)})
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(readerIdleConns)
		q.reader = db
		migrate, err = q.checkSchema(ctx, db)
		return err
	}
	err = open()
	if err != nil && q.writer != nil && isReadOnlyErr(err) {
		// A hot rollback journal (a process killed during a transaction in
		// rollback-journal mode, as a new queue's first steps are) can only
		// be rolled back by a connection that may write: let the writer
		// read the schema once, which rolls it back, then read again.
		q.reader.Close()
		var n int
		if werr := q.writer.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n); werr != nil {
			return false, q.fileError("open queue", werr)
		}
		err = open()
	}
	if err != nil && q.writer == nil && isCantOpen(err) && p.Get("immutable") == "" {
		// A read-only WAL database in a place we cannot write: SQLite cannot
		// create the shared-memory (-shm) file it needs to read the -wal.
		if walErr == nil && wal.Size() > 0 {
			return false, fmt.Errorf("open queue %s: its -wal file holds changes not yet written into the file, and SQLite cannot read them without creating %s-shm, which this read-only place does not allow: open it once where it is writable (or copy %s and %s-wal to a writable folder and open the copy)", q.path, q.path, q.path, q.path)
		}
		if walErr != nil && !noWAL {
			return false, fmt.Errorf("open queue %s: %w", q.path, walErr)
		}
		// Without a -wal (or with an empty one) the file holds everything
		// committed, and immutable=1 reads it without a -shm.
		q.reader.Close()
		p.Set("immutable", "1")
		err = open()
	}
	if err != nil {
		return false, q.openError(ctx, err)
	}
	return migrate, nil
}

// openError words an error of opening: a stopped wait for the lock as
// waitLock said it, the end of ctx at another moment with nothing changed
// (a schema step is one transaction, rolled back), else fileError's.
func (q *Queue) openError(ctx context.Context, err error) error {
	var stopped *waitStopped
	switch {
	case errors.As(err, &stopped):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("open queue %s: stopped: nothing changed: %w", q.path, context.Cause(ctx))
	}
	return q.fileError("open queue", err)
}

// anyWriteBit reports whether the file has a write permission bit for anyone.
func anyWriteBit(abs string) bool {
	st, err := os.Stat(abs)
	return err != nil || st.Mode().Perm()&0o222 != 0
}

func isReadOnlyErr(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrReadonly
}

func isCantOpen(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrCantOpen || se.Code == sqlite3.ErrReadonly)
}

// readerConnector opens the read connections. Connecting reads the schema,
// which waits while another process holds the whole file for a moment (the
// creator of a new queue, the last process to close one writing its WAL
// into it): that wait is waitLock's, told about, limited (LockWait) and
// stopped by the context (Ctrl-C while a queue opens), rather than SQLite's
// busy handler, which nothing interrupts. Then the connection's statements
// wait in SQLite for up to busyTimeout, as a reader must.
type readerConnector struct {
	q   *Queue
	dsn string // with a busy timeout of writerBusyTimeout
}

func (c readerConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var dc driver.Conn
	err := c.q.waitLock(ctx, "open queue", func() (err error) {
		dc, err = sqliteDriver.Open(c.dsn)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, err := dc.(*sqlite3.SQLiteConn).Exec(fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds()), nil); err != nil {
		dc.Close()
		return nil, err
	}
	return dc, nil
}

func (c readerConnector) Driver() driver.Driver { return sqliteDriver }

// checkSchema verifies, on a read connection, that the file is an mqsh queue
// whose schema this program understands; migrate says whether the writer
// has work to do (steps to apply, or the switch to WAL).
func (q *Queue) checkSchema(ctx context.Context, db *sql.DB) (migrate bool, err error) {
	appID, version, tables, err := readSchema(ctx, db)
	if err != nil {
		return false, err
	}
	if err := q.versionError(appID, version, tables); err != nil {
		return false, err
	}
	if q.writer == nil {
		return false, nil
	}
	if version < len(migrations) {
		return true, nil
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return false, err
	}
	return mode != "wal", nil
}

// readSchema reads what says which queue schema a file holds: its application
// id, its schema version and how many schema objects it has. The three are
// read by one statement, so from one snapshot: read one by one, they could
// straddle another process's creation of the queue (no application id yet,
// but already its tables) and a new queue would look like a foreign file.
func readSchema(ctx context.Context, db interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (appID, version, tables int, err error) {
	err = db.QueryRowContext(ctx, `SELECT (SELECT application_id FROM pragma_application_id),
		(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)`).Scan(&appID, &version, &tables)
	return
}

func (q *Queue) versionError(appID, version, tables int) error {
	if appID != applicationID && (tables > 0 || version != 0) {
		return fileStateErrorf("%s is an SQLite database but not an mqsh queue: give the path of a queue file, or a new file name to create one", q.path)
	}
	if version > len(migrations) {
		return fileStateErrorf("%s has queue schema version %d, newer than this mqsh understands (%d): upgrade mqsh to open it", q.path, version, len(migrations))
	}
	if q.writer == nil && version < len(migrations) {
		if version == 0 {
			return fileStateErrorf("%s is an empty file and the queue is read-only: open it with write access once to create the queue", q.path)
		}
		return fileStateErrorf("%s has queue schema version %d and needs an upgrade to %d, but it is open read-only: open it once with write access", q.path, version, len(migrations))
	}
	return nil
}

func fileStateErrorf(format string, a ...any) error {
	return &fileStateError{fmt.Sprintf(format, a...)}
}

// fileError turns SQLite's low-level complaints about the file into sentences
// that say what is wrong and what to do.
func (q *Queue) fileError(op string, err error) error {
	var fe *fileStateError
	if errors.As(err, &fe) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB:
			return fmt.Errorf("%s: %s is not an mqsh queue (not an SQLite database): give the path of a queue file, or a new file name to create one", op, q.path)
		case sqlite3.ErrCorrupt:
			return fmt.Errorf("%s: %s is damaged (%v): restore it from a backup, or try `sqlite3 %s .recover`", op, q.path, se, q.path)
		case sqlite3.ErrReadonly:
			return &sentinelError{fmt.Sprintf("%s: %s is read-only (%v): give write permission on the file and its directory", op, q.path, se), ErrReadOnly}
		case sqlite3.ErrCantOpen, sqlite3.ErrPerm, sqlite3.ErrAuth:
			return fmt.Errorf("%s: cannot open %s (%v): check that the file and its directory are readable", op, q.path, se)
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return fmt.Errorf("%s: %s is locked by %s: %v; try again", op, q.path, q.holder(), se)
		case sqlite3.ErrFull:
			return fmt.Errorf("%s: the disk holding %s is full: free some space and try again", op, q.path)
		case sqlite3.ErrIoErr:
			return fmt.Errorf("%s: input/output error on %s (%v): check the disk", op, q.path, se)
		}
	}
	return fmt.Errorf("%s: %s: %w", op, q.path, err)
}

// isDuplicateKey reports whether err is SQLite refusing a row whose key is
// already taken.
func isDuplicateKey(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint &&
		(se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey || se.ExtendedCode == sqlite3.ErrConstraintUnique)
}

// Close closes the database. It is safe to call more than once.
func (q *Queue) Close() error {
	var err error
	q.closeOnce.Do(func() {
		// Readers first: the writer, closing last, checkpoints the WAL into
		// the file and removes it.
		if q.reader != nil {
			err = q.reader.Close()
		}
		if q.deferred != nil {
			if e := q.deferred.Close(); err == nil {
				err = e
			}
		}
		if q.ingest != nil {
			if e := q.ingest.Close(); err == nil {
				err = e
			}
		}
		if e := q.closeWriter(); err == nil {
			err = e
		}
		q.lock.release()
	})
	return err
}

// closeWriter closes the writer connection, which, closing last, checkpoints
// the WAL into the file and removes it (with the disk started early, see
// whileWriting).
func (q *Queue) closeWriter() error {
	if q.writer == nil {
		return nil
	}
	if q.wrote.Load() {
		// PRAGMA optimize may want the write lock: try it without waiting,
		// so closing never waits behind another process's writer. A handle
		// that changed nothing has nothing to optimise, and its writer may
		// never have connected.
		q.writer.Exec("PRAGMA busy_timeout = 0")
		q.writer.Exec("PRAGMA optimize")
	}
	return q.whileWriting(q.writer.Close)
}

// Path returns the file name the queue was opened with.
func (q *Queue) Path() string { return q.path }

// ReadOnly reports whether the queue was opened without write access.
func (q *Queue) ReadOnly() bool { return q.readOnly }

// readOnlyError says why a write was refused and what to do.
func (q *Queue) readOnlyError(verb string) error {
	if q.roFile {
		return &sentinelError{fmt.Sprintf("%s: %s is read-only (the file has no write permission): give write permission on the file and its directory to change the queue", verb, q.path), ErrReadOnly}
	}
	return &sentinelError{fmt.Sprintf("%s: %s was opened read-only: open it without the read-only option to change it", verb, q.path), ErrReadOnly}
}

// sentinelError is a sentence of its own that still matches a sentinel error
// with errors.Is.
type sentinelError struct {
	msg string
	is  error
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.is }

// fileStateError is a complaint about the file that already names it.
type fileStateError struct{ msg string }

func (e *fileStateError) Error() string { return e.msg }

// Now returns the queue's clock reading (Options.Now, or the wall clock).
func (q *Queue) Now() time.Time { return q.now() }

func fromUnix(s int64) time.Time { return time.Unix(s, 0).UTC() }
