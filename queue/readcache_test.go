package queue

import (
	"context"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// A read connection keeps the statements it ran prepared: delivery asks
// whether the queue is paused and when mail is next due after every group
// commit of serve, and compiling those statements each time cost more than
// running them. (SQLite calls the authorizer only while compiling.)
func TestReadConnectionsKeepStatements(t *testing.T) {
	q, _ := openTest(t)
	ctx := context.Background()
	q.reader.SetMaxOpenConns(1) // so that every read below runs on the connection watched
	compiled := 0
	c, err := q.reader.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Raw(func(dc any) error {
		dc.(*sqlite3.SQLiteConn).RegisterAuthorizer(func(int, string, string, string) int {
			compiled++
			return sqlite3.SQLITE_OK
		})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	read := func() {
		if _, err := q.Paused(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := q.NextDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	read()
	first := compiled
	if first == 0 {
		t.Fatal("the authorizer saw no statement compiled")
	}
	for i := 0; i < 3; i++ {
		read()
	}
	if compiled != first {
		t.Errorf("statements compiled again: %d authorizations on the first reads, %d after three more", first, compiled)
	}
}
