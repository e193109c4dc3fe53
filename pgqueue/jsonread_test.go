package pgqueue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
)

// failingReader gives r, then fails.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("disk on fire")
	}
	return n, err
}

// The JSON import decodes its input in chunks on several goroutines: an
// error in any chunk names its line in the whole input, with the words a
// one-line input gets, the first error by line wins, and nothing is
// imported.
func TestImportErrorsByLineAcrossChunks(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	lines := strings.SplitAfter(demoLines(t, 12000, now), "\n")
	lines = lines[:12000]
	idOf := func(n int) string { return regexp.MustCompile(`^\{"id":(\d+)`).FindStringSubmatch(lines[n-1])[1] }
	with := func(change map[int]string) string {
		out := slices.Clone(lines)
		for n, s := range change {
			out[n-1] = s
		}
		return strings.Join(out, "")
	}
	bad := "{\"id\": \"not a number\"}\n"
	url := pgtest.URL(t)
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	_, oneLine := q.ImportJSON(ctx, strings.NewReader(bad))
	if oneLine == nil {
		t.Fatal("a bad line was imported")
	}
	badSays := strings.TrimPrefix(oneLine.Error(), "import: line 1: ")
	// Line 3 of the input is queued before each case.
	if res, err := q.ImportJSON(ctx, strings.NewReader(lines[2])); err != nil || res.Count != 1 {
		t.Fatalf("import line 3: %v, %v", res, err)
	}
	for _, c := range []struct {
		name string
		in   io.Reader
		want string
	}{
		{"bad line in the second chunk", strings.NewReader(with(map[int]string{3: "\n", 7003: bad})), "import: line 7003: " + badSays},
		{"bad line opening the third chunk", strings.NewReader(with(map[int]string{3: "\n", 10001: bad})), "import: line 10001: " + badSays},
		{"bad lines in two chunks", strings.NewReader(with(map[int]string{3: "\n", 11000: bad, 5002: bad})), "import: line 5002: " + badSays},
		{"an id twice, in two chunks", strings.NewReader(with(map[int]string{3: "\n", 9000: lines[1]})), "import: line 9000: message " + queueID(t, idOf(2)) + " appears twice (first on line 2) (nothing was imported)"},
		{"an id queued, before an id twice", strings.NewReader(with(map[int]string{3: "\n", 5003: lines[2], 5004: lines[5001]})), "import: line 5003: message " + queueID(t, idOf(3)) + " is already in the queue (nothing was imported)"},
		{"an id queued in the first chunk", strings.NewReader(with(nil)), "import: line 3: message " + queueID(t, idOf(3)) + " is already in the queue (nothing was imported)"},
		{"the input failing after two chunks", failingReader{strings.NewReader(with(map[int]string{3: "\n"}))}, "import: line 12001: disk on fire (nothing was imported)"},
	} {
		_, err := q.ImportJSON(ctx, c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.name, err, c.want)
		}
		if n, err := q.Count(ctx, queue.Filter{All: true}); err != nil || n != 1 {
			t.Errorf("%s: %d queued after the failed import (%v), want the 1 from before", c.name, n, err)
		}
	}
	// Blank lines between chunks keep the count right.
	in := strings.Repeat("\n", 4999) + with(map[int]string{3: "\n"}) + "\n\n"
	res, err := q.ImportJSON(ctx, strings.NewReader(in))
	if err != nil || res.Count != 11999 {
		t.Fatalf("import with blank lines: %d, %v", res.Count, err)
	}
	var audit string
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT filter FROM audit WHERE verb = 'import' ORDER BY seq DESC LIMIT 1").Scan(&audit); err != nil {
		t.Fatal(err)
	}
	if want := queue.ImportJSONAuditText(4999 + 12000 + 2); audit != want {
		t.Errorf("audit row says %q, want %q", audit, want)
	}
}

// queueID is a JSON line's "id" as the queue shows it.
func queueID(t *testing.T, n string) string {
	t.Helper()
	id, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return queue.ID(id).String()
}

// Into an empty queue (whose tables the import empties anew and then fills
// alone) an id given twice is still refused by its line, in any chunk.
func TestImportIntoEmptyQueueRefusesAnIDTwice(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	lines := strings.SplitAfter(demoLines(t, 12000, now), "\n")[:12000]
	id := regexp.MustCompile(`^\{"id":(\d+)`).FindStringSubmatch(lines[1])[1]
	for _, at := range []int{4000, 9000, 12000} {
		in := slices.Clone(lines)
		in[at-1] = lines[1]
		q, err := pgqueue.Open(ctx, pgtest.URL(t), pgqueue.Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		_, err = q.ImportJSON(ctx, strings.NewReader(strings.Join(in, "")))
		want := fmt.Sprintf("import: line %d: message %s appears twice (first on line 2) (nothing was imported)", at, queueID(t, id))
		if err == nil || err.Error() != want {
			t.Errorf("id twice on line %d:\n got %v\nwant %s", at, err, want)
		}
		if n, err := q.Count(ctx, queue.Filter{All: true}); err != nil || n != 0 {
			t.Errorf("%d queued after the failed import (%v), want none", n, err)
		}
	}
}
