package queue

// The schema: numbered steps in migrations/NNNN_name.sql, embedded in the
// program and applied in order. The database records how many it has in
// PRAGMA user_version; a file with more steps than this program knows is
// refused (versionError). Never edit a released step: add the next file.

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations are the schema steps, step i+1 at index i.
var migrations = LoadMigrations(migrationFiles)

// LoadMigrations reads the schema steps of an engine from fsys's migrations
// folder: files named NNNN_what.sql, numbered from 1 without a gap, step
// i+1 at index i. A wrong set is a mistake in the program itself, so it
// panics at start-up (and in every test).
func LoadMigrations(fsys fs.FS) []string {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		panic(fmt.Sprintf("queue: embedded migrations: %v", err))
	}
	var steps []string
	for i, e := range entries { // sorted by name
		num, _, ok := strings.Cut(e.Name(), "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || path.Ext(e.Name()) != ".sql" || n != i+1 {
			panic(fmt.Sprintf("queue: migration file %s: want %04d_name.sql (numbered from 0001 without a gap)", e.Name(), i+1))
		}
		b, err := fs.ReadFile(fsys, path.Join("migrations", e.Name()))
		if err != nil {
			panic(fmt.Sprintf("queue: migration file %s: %v", e.Name(), err))
		}
		steps = append(steps, string(b))
	}
	if len(steps) == 0 {
		panic("queue: no embedded migrations")
	}
	return steps
}

// migrate brings the schema up to date in one immediate transaction, so that two
// processes opening a new file at once do not both create it.
func (q *Queue) migrate(ctx context.Context) (err error) {
	// Most opens find the schema current: that is read without the write
	// lock, so opening a queue never waits behind another process's writer.
	// It waits, as a writer does, only while another process holds the
	// whole file for a moment: the creator of a new queue switching it to
	// WAL, or the last process to close it writing its WAL into the file.
	var appID, version, tables int
	var mode string
	err = q.waitLock(ctx, "open queue", func() (err error) {
		if appID, version, tables, err = readSchema(ctx, q.writer); err != nil {
			return err
		}
		return q.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	})
	if err != nil {
		return err
	}
	if err := q.versionError(appID, version, tables); err != nil {
		return err
	}
	// Only a file now known to be a queue (or empty) is switched to WAL: a
	// refused file is left exactly as it was. The mode is recorded in the
	// file, so this changes something only once.
	if mode != "wal" {
		err := q.waitLock(ctx, "open queue", func() error {
			return q.writer.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		})
		if err != nil {
			return err
		}
		if mode != "wal" {
			return fmt.Errorf("cannot switch %s to WAL mode (it stays in %s mode)", q.path, mode)
		}
	}
	if version == len(migrations) {
		return nil
	}
	// A step may rewrite every row of a big queue (a backfill, an index):
	// it runs under a small page cache, so that opening an older queue costs
	// no more memory than a server that limits its cache (LimitCache) keeps.
	restore, err := q.limitMigrationCache(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if e := restore(); e != nil && err == nil {
			err = e
		}
	}()
	// Otherwise read it again under the write lock: another process may be
	// migrating the same file right now.
	var tx *sql.Tx
	err = q.waitLock(ctx, "open queue", func() (err error) {
		tx, err = q.writer.BeginTx(ctx, nil)
		return err
	})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if appID, version, tables, err = readSchema(ctx, tx); err != nil {
		return err
	}
	if err := q.versionError(appID, version, tables); err != nil {
		return err
	}
	if version == len(migrations) {
		return nil
	}
	if version == 0 {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return err
		}
		defer func() {
			if err == nil {
				q.created = true
			}
		}()
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("schema step %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

// migrationCacheKiB is the page cache a migration runs under: serve's
// default (--cache-size 16M). A step that changes more pages than this
// writes them to the WAL as it goes, which costs little next to the work of
// the step.
const migrationCacheKiB = 16384

// limitMigrationCache sets the page cache of the writer's connection, and of
// any it makes meanwhile, for a migration, and returns how to give them back
// their own.
func (q *Queue) limitMigrationCache(ctx context.Context) (restore func() error, err error) {
	own := q.cacheKiB
	set := func(kib int64) error {
		if kib <= 0 {
			kib = defaultCacheKiB
		}
		_, err := q.writer.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA cache_size = %d", -kib))
		return err
	}
	q.cacheKiB = migrationCacheKiB
	if err := set(q.cacheKiB); err != nil {
		q.cacheKiB = own
		return nil, err
	}
	return func() error {
		q.cacheKiB = own
		return set(own)
	}, nil
}
