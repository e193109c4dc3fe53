package pgqueue_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
)

func exec(t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

// An empty database gets the schema, recorded step by step; opening it
// again changes nothing; two processes opening a new database at once
// both succeed.
func TestMigrateEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			q, err := pgqueue.Open(ctx, url, pgqueue.Options{})
			if err == nil {
				q.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("open a new database: %v", err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT version FROM mqsh_schema ORDER BY version")
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	steps := schemaSteps(t)
	if err != nil || len(versions) != steps || versions[0] != 1 || int(versions[len(versions)-1]) != steps {
		t.Errorf("recorded steps %v, %v; want 1 to %d", versions, err, steps)
	}
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if n, err := q.Count(ctx, queue.Filter{}); err != nil || n != 0 {
		t.Errorf("count %d, %v", n, err)
	}
}

// schemaSteps is how many schema steps this program has.
func schemaSteps(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("schema steps: %v", err)
	}
	return len(files)
}

// A database whose schema is newer than this program's is refused with
// the engines' sentence, and left as it was.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	exec(t, url, "INSERT INTO mqsh_schema(version, applied) VALUES(99, 0)")
	_, err = pgqueue.Open(ctx, url, pgqueue.Options{})
	want := fmt.Sprintf("has queue schema version 99, newer than this mqsh understands (%d): upgrade mqsh to open it", schemaSteps(t))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("open a newer schema: %v", err)
	}
	if !strings.Contains(err.Error(), queue.RedactURL(url)) {
		t.Errorf("the error does not name the database: %v", err)
	}
}

// A database holding tables of another program is not taken over; a
// read-only open of a database without a queue says what to do.
func TestMigrateForeignOrReadOnly(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	if _, err := pgqueue.Open(ctx, url, pgqueue.Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "open it with write access once to create the queue") {
		t.Errorf("read-only open of an empty database: %v", err)
	}
	exec(t, url, "CREATE TABLE messages(x int)")
	_, err := pgqueue.Open(ctx, url, pgqueue.Options{})
	if err == nil || !strings.Contains(err.Error(), "already holds tables that are not an mqsh queue") {
		t.Errorf("open a foreign database: %v", err)
	}
	// Nothing of the failed step stays behind.
	q, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close(ctx)
	var n int
	q.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n)
	if n != 1 {
		t.Errorf("%d tables after a refused migration, want the foreign one alone", n)
	}
}

// The password never shows: not in Location, not in an error.
func TestPasswordNeverShown(t *testing.T) {
	ctx := context.Background()
	for _, url := range []string{
		"postgres://ann:hunter2-pw@127.0.0.1:1/db?sslmode=disable",
		"postgresql://127.0.0.1:1/db?sslmode=disable&password=hunter2-pw&user=ann",
		"postgres://ann:hunter2-pw@[::1/db",
	} {
		_, err := pgqueue.Open(ctx, url, pgqueue.Options{})
		if err == nil || strings.Contains(err.Error(), "hunter2-pw") || !strings.HasPrefix(err.Error(), "open queue ") {
			t.Errorf("open %s: %v", queue.RedactURL(url), err)
		}
	}
	url := pgtest.URL(t)
	u := strings.Replace(url, "postgres://postgres@", "postgres://postgres:hunter2-pw@", 1)
	q, err := pgqueue.Open(ctx, u, pgqueue.Options{ReadOnly: false})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if strings.Contains(q.Location(), "hunter2-pw") || !strings.Contains(q.Location(), "postgres@127.0.0.1") {
		t.Errorf("location %q", q.Location())
	}
	ro, err := pgqueue.Open(ctx, u, pgqueue.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = ro.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{All: true}})
	if !errors.Is(err, queue.ErrReadOnly) || strings.Contains(err.Error(), "hunter2-pw") || !strings.Contains(err.Error(), "opened read-only") {
		t.Errorf("retry on a read-only queue: %v", err)
	}
}
