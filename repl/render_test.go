package repl

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// referenceOutput returns what the documented stalwart-cli session printed
// (stdout and stderr together) after the command line ending in command.
func referenceOutput(t *testing.T, command string) string {
	t.Helper()
	doc, err := os.ReadFile("testdata/stalwart-cli-queue-example.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i := strings.Index(s, command+"\n")
	if i < 0 {
		t.Fatalf("%q is not in the reference", command)
	}
	s = s[i+len(command)+1:]
	return s[:strings.Index(s, "```")]
}

// sessionOutput runs a command with stdout and stderr in one buffer, as a
// terminal shows them.
func sessionOutput(t *testing.T, c *cli, line string) string {
	t.Helper()
	var both bytes.Buffer
	c.env.Stdout, c.env.Stderr = &both, &both
	defer func() { c.env.Stdout, c.env.Stderr = &c.stdout, &c.stderr }()
	c.mustRun(t, line)
	return both.String()
}

// rowBlocks splits a table into its header and its row blocks (the lines
// between separator lines, each with the separator under it).
func rowBlocks(table string) (header string, rows []string) {
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	var cur []string
	var blocks []string
	for _, l := range lines[1:] {
		cur = append(cur, l)
		if strings.HasPrefix(l, "+") {
			blocks = append(blocks, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	return lines[0] + "\n" + blocks[0], blocks[1:]
}

func TestListMatchesReference(t *testing.T) {
	c := newCLI(t, 0)
	got := sessionOutput(t, c, "queue list")
	want := referenceOutput(t, "-c secret queue list")

	// Same text around the table.
	tableRE := regexp.MustCompile(`(?s)^\n(\+.*\+)\n\n\n6 queued message\(s\) found\.\n$`)
	gm, wm := tableRE.FindStringSubmatch(got), tableRE.FindStringSubmatch(want)
	if wm == nil {
		t.Fatalf("the reference list output has an unexpected shape:\n%s", want)
	}
	if gm == nil {
		t.Fatalf("queue list output is not the documented blank line, table, two blank lines, count:\n%q", got)
	}
	gh, gotRows := rowBlocks(gm[1])
	wh, wantRows := rowBlocks(wm[1])
	if gh != wh {
		t.Errorf("header:\n%s\nwant:\n%s", gh, wh)
	}
	// The same rows, in id order rather than the documentation's arbitrary order.
	sortedWant := slices.Clone(wantRows)
	slices.SortFunc(sortedWant, func(a, b string) int { return compareRowIDs(t, a, b) })
	if !slices.Equal(gotRows, sortedWant) {
		t.Errorf("rows differ from the reference (in id order)\n--- got\n%s\n--- want\n%s",
			strings.Join(gotRows, "\n"), strings.Join(sortedWant, "\n"))
	}
}

func compareRowIDs(t *testing.T, a, b string) int {
	id := func(row string) queue.ID {
		f := strings.Fields(row)
		v, err := queue.ParseID(f[1])
		if err != nil {
			t.Fatalf("row without an id: %q", row)
		}
		return v
	}
	ia, ib := id(a), id(b)
	switch {
	case ia < ib:
		return -1
	case ia > ib:
		return 1
	}
	return 0
}

func TestStatusMatchesReference(t *testing.T) {
	c := newCLI(t, 0)
	got := sessionOutput(t, c, "queue status 52B91F716")
	want := referenceOutput(t, "-c secret queue status 52B91F716")
	// The documentation stops at the table; the blank stderr line after it is ours to show.
	if got != want+"\n" {
		t.Errorf("queue status 52B91F716\n--- got\n%q\n--- want\n%q", got, want+"\n")
	}
}

func TestTablesGolden(t *testing.T) {
	c := newCLI(t, 0)
	for _, tt := range []struct{ name, line string }{
		{"list.txt", "queue list"},
		{"status-52B91F716.txt", "queue status 52B91F716"},
		{"status-not-found.txt", "queue status 52B91F717"},
		{"status-two.txt", "status 2b91f716 52B91F717"},
		{"list-domain1.txt", "list -d domain1.test -p 2"},
		{"summary-domain.txt", "queue summary"},
		{"summary-status.txt", "queue summary --by status"},
		{"summary-age.txt", "queue summary --by age"},
		{"list-wide.txt", "queue list -o wide"},
		{"shape.txt", "queue summary --shape"},
		{"shape-sender-top.txt", "summary --shape --by sender-domain --top 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.name, sessionOutput(t, c, tt.line))
		})
	}
}

func TestNotFoundKeepsGoing(t *testing.T) {
	c := newCLI(t, 0)
	c.mustRun(t, "queue status FFFF 32B91F716")
	out := c.stdout.String()
	if strings.Count(out, "-- Not found --") != 1 || !strings.Contains(out, "bill4@example.net") {
		t.Errorf("want a not-found table, then the table of 32B91F716:\n%s", out)
	}
	// prettytable sizes each column for a spanning cell: ceil((15-3)/2) = 6.
	want := "+--------+--------+\n| ID     | FFFF   |\n+--------+--------+\n| -- Not found -- |\n+--------+--------+\n"
	if !strings.HasPrefix(out, want) {
		t.Errorf("not-found table:\n%s\nwant:\n%s", out, want)
	}
}

func TestColour(t *testing.T) {
	c := newCLI(t, 0)
	c.mustRun(t, "list")
	plain := c.stdout.String()
	if strings.Contains(plain, "\x1b[") {
		t.Fatalf("colour without env.Color:\n%q", plain)
	}
	c.env.Color = true
	c.mustRun(t, "list")
	coloured := c.stdout.String()
	if !strings.Contains(coloured, "\x1b[33mtempfail\x1b[0m") || !strings.Contains(coloured, "\x1b[32mdelivered\x1b[0m") {
		t.Errorf("statuses not coloured:\n%q", coloured)
	}
	if strip := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(coloured, ""); strip != plain {
		t.Errorf("colour changed the layout:\n%s\nwant:\n%s", strip, plain)
	}
	c.mustRun(t, "status 52B91F716")
	if !strings.Contains(c.stdout.String(), "\x1b[33mTemporary Failure\x1b[0m") {
		t.Errorf("status table statuses not coloured:\n%q", c.stdout.String())
	}
}

func TestCleanControlCharacters(t *testing.T) {
	m := queue.Message{ID: 1, ReturnPath: "evil\x1b]0;owned\x07@example.net", Size: 1,
		Domains: []queue.Domain{{Name: "example.org", Recipients: []queue.Recipient{{Address: "a\tb@example.org"}}}}}
	out := ListTable([]queue.Message{m}, false)
	if strings.ContainsAny(out, "\x1b\x07\t") {
		t.Errorf("control characters reached the table:\n%q", out)
	}
	if !strings.Contains(out, "evil?]0;owned?@example.net") || !strings.Contains(out, "a b@example.org") {
		t.Errorf("cleaned text not shown:\n%s", out)
	}
}

func TestFormats(t *testing.T) {
	c := newCLI(t, 0)

	c.mustRun(t, "list -o ids")
	if got := c.stdout.String(); got != "2B91F716\n12B91F716\n22B91F716\n32B91F716\n42B91F716\n52B91F716\n" {
		t.Errorf("ids:\n%s", got)
	}
	if got := c.stderr.String(); got != "\n6 queued message(s) found.\n" {
		t.Errorf("ids stderr: %q", got)
	}

	c.mustRun(t, "list --format json -s <>")
	lines := strings.Split(strings.TrimSuffix(c.stdout.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("json: want one line for the one bounce, got %q", c.stdout.String())
	}
	var m struct {
		ID         uint64 `json:"id"`
		ReturnPath string `json:"return_path"`
		EnvID      string `json:"env_id"`
		Domains    []struct {
			Name       string `json:"name"`
			Recipients []struct {
				Address string `json:"address"`
				Status  any    `json:"status"`
			} `json:"recipients"`
		} `json:"domains"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m.ID != 0x52B91F716 || m.ReturnPath != "" || m.EnvID != "f" || len(m.Domains) != 1 || len(m.Domains[0].Recipients) != 2 {
		t.Errorf("json message: %+v", m)
	}

	c.mustRun(t, "list -o csv -r delay@example.org")
	recs, err := csv.NewReader(strings.NewReader(c.stdout.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], CSVHeader) {
		t.Errorf("csv header %q", recs[0])
	}
	// 32B91F716 has one recipient, 52B91F716 two: one row each.
	if len(recs) != 4 {
		t.Fatalf("csv: want header and 3 rows, got %q", recs)
	}
	row := map[string]string{}
	for i, h := range recs[0] {
		row[h] = recs[3][i]
	}
	want := map[string]string{"id": "52B91F716", "sender": "", "size": "1127", "env_id": "f", "domain": "example.org",
		"recipient": "success@example.org", "status": "delivered", "code": "250", "enhanced_code": "2.1.5", "message": "OK",
		"next_retry": "2023-03-01T12:01:01Z", "created": "2023-03-01T11:44:22Z"}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("csv column %s = %q, want %q", k, row[k], v)
		}
	}

	c.mustRun(t, "status -o ids 52B91F716 FFFF")
	if c.stdout.String() != "52B91F716\n" || !strings.Contains(c.stderr.String(), "Message FFFF not found.") {
		t.Errorf("status -o ids: %q / %q", c.stdout.String(), c.stderr.String())
	}
	c.mustRun(t, "status -o csv 2B91F716 12B91F716")
	if n := strings.Count(c.stdout.String(), "\n"); n != 5 || strings.Count(c.stdout.String(), "id,created") != 1 {
		t.Errorf("status -o csv: want one header and 4 rows:\n%s", c.stdout.String())
	}
}

func TestDates(t *testing.T) {
	if got := FormatDate(time.Date(2023, 3, 1, 11, 51, 1, 0, time.FixedZone("x", 3600))); got != "Wed, 1 Mar 2023 10:51:01 +0000" {
		t.Errorf("FormatDate = %q", got)
	}
	if got := FormatDate(time.Time{}); got != "None" {
		t.Errorf("FormatDate(zero) = %q", got)
	}
	if got := FormatSize(154650); got != "154650 B" {
		t.Errorf("FormatSize = %q", got)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0K", 1142: "1.1K", 56203264: "53.6M",
		102349: "100K", 1 << 30: "1.0G", 1<<40 + 1<<39: "1.5T"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}
