// Package pgqueue is the queue on PostgreSQL: the same model, filter
// semantics, verbs, audit and delivery leases as the SQLite engine (package
// queue), behind the same interfaces (queue.Backend, queue.Txn,
// queue.DeliveryStore), so that several mqsh processes on several machines
// share one queue. It owns a pgx connection pool; its schema is a set of
// numbered, embedded migrations recorded in the database.
package pgqueue

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"mqsh/queue"
)

// Options configure Open.
type Options struct {
	Schedule queue.Schedule   // for new messages; zero value = queue.DefaultSchedule
	Now      func() time.Time // the clock; nil = time.Now
	User     string           // recorded in the audit log; "" = the OS user
	ReadOnly bool             // refuse changes
	// Notices writes the failure notices of a bounce (see
	// queue.NoticeWriter); nil = bounce refuses.
	Notices queue.NoticeWriter
}

// Queue is a queue in a PostgreSQL database.
type Queue struct {
	pool     *pgxpool.Pool
	loc      string // the URL without its password
	secret   string // the password, kept out of every error
	readOnly bool
	sched    queue.Schedule
	now      func() time.Time
	user     string
	userOnce sync.Once
	notices  queue.NoticeWriter
}

var (
	_ queue.Backend       = (*Queue)(nil)
	_ queue.Batcher       = (*Queue)(nil)
	_ queue.DeliveryStore = (*Queue)(nil)
)

// IsURL reports whether loc names a PostgreSQL queue: postgres:// or
// postgresql://.
func IsURL(loc string) bool {
	l := strings.ToLower(loc)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// secretOf returns the password of a URL, "" when none.
func secretOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if p, ok := u.User.Password(); ok && p != "" {
		return p
	}
	return u.Query().Get("password")
}

// Open connects to the database at rawURL and brings its schema up to date
// (unless ReadOnly). The database must exist (createdb); a database whose
// queue schema is newer than this program's is refused.
func Open(ctx context.Context, rawURL string, opts Options) (*Queue, error) {
	q := &Queue{loc: queue.RedactURL(rawURL), secret: secretOf(rawURL), readOnly: opts.ReadOnly,
		sched: queue.FillSchedule(opts.Schedule), now: opts.Now, user: opts.User, notices: opts.Notices}
	if q.now == nil {
		q.now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open queue %s: not a PostgreSQL URL: want postgres://user:password@host:port/database?sslmode=disable", q.loc)
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	// The queue's statements are short or bulk updates by key, which the
	// JIT compiler only delays (a second for a bulk retry), unless the URL
	// asks for it.
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	// Large values (the ids in a bulk change's audit row, message bodies)
	// are compressed with lz4 where the server has it: pglz takes about
	// 90 ms of server CPU for the ids of a cancel of 100,000, lz4 a
	// quarter. A server without lz4 refuses the setting and keeps its own.
	if _, set := cfg.ConnConfig.RuntimeParams["default_toast_compression"]; !set {
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, _ = c.Exec(ctx, "SET default_toast_compression = lz4")
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, q.openError(err)
	}
	q.pool = pool
	if err := q.migrate(ctx); err != nil {
		pool.Close()
		return nil, q.openError(err)
	}
	return q, nil
}

// migrations are the schema steps, step i+1 at index i.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

var migrations = queue.LoadMigrations(migrationFiles)

// migrationLock is the advisory lock that keeps two processes from
// migrating one database at once.
const migrationLock = 0x6d717368 // "mqsh"

// migrate applies the missing schema steps in one transaction, recording
// each in mqsh_schema; it refuses a newer schema.
func (q *Queue) migrate(ctx context.Context) error {
	version, err := q.schemaVersion(ctx, q.pool)
	if err != nil {
		return err
	}
	if err := q.versionError(version); err != nil || version == len(migrations) {
		return err
	}
	if q.readOnly {
		if version == 0 {
			return fmt.Errorf("%s holds no queue and the queue is open read-only: open it with write access once to create the queue", q.loc)
		}
		return fmt.Errorf("%s has queue schema version %d and needs an upgrade to %d, but it is open read-only: open it once with write access", q.loc, version, len(migrations))
	}
	return pgx.BeginFunc(ctx, q.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS mqsh_schema(version integer PRIMARY KEY, applied bigint NOT NULL)"); err != nil {
			return err
		}
		version, err := q.schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if err := q.versionError(version); err != nil {
			return err
		}
		for i := version; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "42P07" { // duplicate_table
					return fmt.Errorf("%s already holds tables that are not an mqsh queue (%s): give an empty database (createdb NAME) or one made by mqsh", q.loc, pe.Message)
				}
				return fmt.Errorf("schema step %d: %w", i+1, err)
			}
			if fill := backfills[i+1]; fill != nil {
				if err := fill(ctx, tx); err != nil {
					return fmt.Errorf("schema step %d: %w", i+1, err)
				}
			}
			if _, err := tx.Exec(ctx, "INSERT INTO mqsh_schema(version, applied) VALUES($1, $2)", i+1, q.now().Unix()); err != nil {
				return err
			}
		}
		return nil
	})
}

// schemaVersion reads the highest schema step recorded; 0 when none.
func (q *Queue) schemaVersion(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var exists bool
	if err := db.QueryRow(ctx, "SELECT to_regclass('mqsh_schema') IS NOT NULL").Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := db.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM mqsh_schema").Scan(&v)
	return v, err
}

func (q *Queue) versionError(version int) error {
	if version > len(migrations) {
		return queue.SchemaTooNewError(q.loc, version, len(migrations))
	}
	return nil
}

// openError words a failure to open the queue; it never holds the password.
func (q *Queue) openError(err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "3D000":
		return fmt.Errorf("open queue %s: %s: create the database first (createdb NAME) or fix the URL", q.loc, pe.Message)
	case errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000"):
		return fmt.Errorf("open queue %s: PostgreSQL refused the login (%s): check the user and password of the URL", q.loc, pe.Message)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return q.scrub(fmt.Errorf("open queue %s: cannot connect to PostgreSQL (%v): check that the server runs and that the URL names it", q.loc, errors.Unwrap(ce)))
	}
	return q.scrub(fmt.Errorf("open queue %s: %w", q.loc, err))
}

// scrub keeps the password out of an error's text.
func (q *Queue) scrub(err error) error {
	if err == nil || q.secret == "" || !strings.Contains(err.Error(), q.secret) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), q.secret, "xxxxx"), err: err}
}

// scrubbed is an error whose text has had the password taken out; it still
// matches what it wraps.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// dbError words an error of a verb: the context's end, else the server's
// complaint, with the queue named and the password kept out.
func (q *Queue) dbError(verb string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w (nothing was changed)", verb, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "25006" { // read_only_sql_transaction
		return queue.ReadOnlyError(verb, q.loc)
	}
	return q.scrub(fmt.Errorf("%s: %s: %w", verb, q.loc, err))
}

// Location returns the URL without its password.
func (q *Queue) Location() string { return q.loc }

// ReadOnly reports whether the queue was opened read-only.
func (q *Queue) ReadOnly() bool { return q.readOnly }

// Now returns the queue's clock reading.
func (q *Queue) Now() time.Time { return q.now() }

// clock is now in whole seconds, UTC, as times are stored.
func (q *Queue) clock() time.Time { return q.now().UTC().Truncate(time.Second) }

// Close closes the pool.
func (q *Queue) Close() error {
	q.pool.Close()
	return nil
}

func (q *Queue) resolveUser() {
	q.userOnce.Do(func() {
		if q.user == "" {
			q.user = queue.OSUser()
		}
	})
}

func fromUnix(s int64) time.Time { return time.Unix(s, 0).UTC() }

func fromUnixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
