package queue

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

// A process killed in the middle of a transaction in rollback-journal mode
// (a new queue's first steps run in that mode, before the switch to WAL)
// leaves a hot journal beside the file. The next open must roll it back and
// carry on, not fail because its first connection is a read-only one.
func TestOpenRollsBackAHotJournal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	q, err := Open(path, Options{User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.LoadDemo(context.Background(), 200, 1); err != nil {
		t.Fatal(err)
	}
	want, err := q.Count(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()

	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=DELETE")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"PRAGMA journal_mode = DELETE", "PRAGMA cache_size = 1", "BEGIN IMMEDIATE", "DELETE FROM bodies", "DELETE FROM recipients", "DELETE FROM domains", "DELETE FROM messages"} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	// The file and its journal as a kill at this moment leaves them.
	crash := filepath.Join(t.TempDir(), "queue.db")
	for _, suffix := range []string{"", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatalf("no %s: %v", suffix, err)
		}
		if err := os.WriteFile(crash+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conn.ExecContext(ctx, "ROLLBACK")
	conn.Close()

	q2, err := Open(crash, Options{User: "tester"})
	if err != nil {
		t.Fatalf("open after a crash: %v", err)
	}
	defer q2.Close()
	got, err := q2.Count(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("after the rollback the queue holds %d messages, want %d", got, want)
	}
	if _, err := os.Stat(crash + "-journal"); err == nil {
		if st, _ := os.Stat(crash + "-journal"); st.Size() > 0 {
			t.Fatal("the hot journal is still there")
		}
	}
}
