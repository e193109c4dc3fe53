package repl

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"mqsh/queue"
)

// domainDue returns the due time of a message's domain.
func domainDue(t *testing.T, m *queue.Message, domain string) time.Time {
	t.Helper()
	for _, d := range m.Domains {
		if d.Name == domain {
			return d.Due
		}
	}
	t.Fatalf("message %s has no domain %s", m.ID, domain)
	return time.Time{}
}

func TestRetry(t *testing.T) {
	c := newCLI(t, 0)
	c.mustRun(t, "queue retry 52B91F716")
	if got := c.stderr.String(); got != "\nSuccessfully rescheduled 1 message(s).\n" {
		t.Errorf("stderr %q", got)
	}
	if due := domainDue(t, c.get(t, "52B91F716"), "example.org"); !due.Equal(cliNow) {
		t.Errorf("retry without -t: due %v, want now %v", due, cliNow)
	}

	// -t: relative, and a past time is honoured.
	c.mustRun(t, "retry -t +1h 32B91F716")
	if due := domainDue(t, c.get(t, "32B91F716"), "example.org"); !due.Equal(cliNow.Add(time.Hour)) {
		t.Errorf("retry -t +1h: due %v", due)
	}
	c.mustRun(t, "retry -t 2020-01-02 32B91F716")
	if due := domainDue(t, c.get(t, "32B91F716"), "example.org"); !due.Equal(time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("retry -t in the past: due %v", due)
	}

	// -d reschedules that domain only.
	c.mustRun(t, "retry -d domain2.test -t +2h 2B91F716")
	m := c.get(t, "2B91F716")
	if due := domainDue(t, m, "domain2.test"); !due.Equal(cliNow.Add(2 * time.Hour)) {
		t.Errorf("retry -d: domain2.test due %v", due)
	}
	if due := domainDue(t, m, "domain1.test"); due.Equal(cliNow.Add(2 * time.Hour)) {
		t.Errorf("retry -d domain2.test moved domain1.test too")
	}
}

func TestRetryIdsAndFiltersCombine(t *testing.T) {
	c := newCLI(t, 0)
	c.mustRun(t, "retry -t +30m -s bill1@example.net 2B91F716 12B91F716")
	want := "\nSuccessfully rescheduled 1 message(s). Unable to reschedule id(s): 12B91F716.\n"
	if got := c.stderr.String(); got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	if due := domainDue(t, c.get(t, "12B91F716"), "domain1.test"); due.Equal(cliNow.Add(30 * time.Minute)) {
		t.Errorf("12B91F716 was rescheduled although its sender does not match")
	}

	// Ids that change nothing: exit 1, the same message.
	err := c.run(t, "retry -s nobody@example.com 12B91F716")
	if ExitCode(err) != 1 || c.stderr.String() != "\nSuccessfully rescheduled 0 message(s). Unable to reschedule id(s): 12B91F716.\n" {
		t.Errorf("exit %d, stderr %q", ExitCode(err), c.stderr.String())
	}
}

func TestRetryCancelSelectNothing(t *testing.T) {
	c := newCLI(t, 0)
	for _, line := range []string{"retry -s nobody@example.com", "cancel -r nobody@example.com", "cancel --dry-run -s nobody@example.com"} {
		err := c.run(t, line)
		if ExitCode(err) != 1 || err.Error() != "No messages were found." {
			t.Errorf("%s: %v (exit %d)", line, err, ExitCode(err))
		}
	}
	for _, line := range []string{"retry", "cancel", "retry -t +1h", "cancel --dry-run"} {
		err := c.run(t, line)
		if ExitCode(err) != 1 || !strings.HasPrefix(err.Error(), "No messages were found.\nNothing was selected") {
			t.Errorf("%s: %v (exit %d)", line, err, ExitCode(err))
		}
	}
	if n, _ := c.env.Queue.Count(t.Context(), queue.Filter{}); n != 6 {
		t.Errorf("%d messages left, want all 6", n)
	}
}

func TestRetryPastBeforeIsHonoured(t *testing.T) {
	c := newCLI(t, 0)
	// Stalwart drops a past --before; mqsh compares it like any other time.
	c.mustRun(t, "retry -t +1h -b 2023-03-01T11:50:00Z")
	if !strings.Contains(c.stderr.String(), "Successfully rescheduled 3 message(s).") {
		t.Errorf("stderr %q", c.stderr.String())
	}
}

func TestCancel(t *testing.T) {
	c := newCLI(t, 0)
	c.mustRun(t, "queue cancel 42B91F716")
	if got := c.stderr.String(); got != "\nCancelled delivery of 1 message(s).\n" {
		t.Errorf("stderr %q", got)
	}
	if c.get(t, "42B91F716") != nil {
		t.Errorf("42B91F716 still queued")
	}

	// -r cancels matching recipients only; the message stays while others are pending.
	c.mustRun(t, "cancel -r rcpt6@domain2.test 22B91F716")
	m := c.get(t, "22B91F716")
	if m == nil {
		t.Fatal("22B91F716 removed although other recipients are pending")
	}
	for _, r := range m.Recipients() {
		if (r.Address == "rcpt6@domain2.test") != (r.Status == queue.PermFail) {
			t.Errorf("%s is %s", r.Address, r.Status.Short())
		}
	}

	err := c.run(t, "cancel 42B91F716 12B91F716")
	if err != nil || c.stderr.String() != "\nCancelled delivery of 1 message(s). Unable to cancel delivery for id(s): 42B91F716.\n" {
		t.Errorf("%v %q", err, c.stderr.String())
	}
	if err := c.run(t, "cancel --all"); err == nil || !strings.Contains(err.Error(), "refusing to cancel every message without --yes") {
		t.Errorf("cancel --all without a terminal or --yes: %v", err)
	}
	c.mustRun(t, "cancel --all --yes")
	if n, _ := c.env.Queue.Count(t.Context(), queue.Filter{}); n != 0 || !strings.Contains(c.stderr.String(), "Cancelled delivery of 4 message(s).") {
		t.Errorf("cancel --all: %q, %d left", c.stderr.String(), n)
	}
}

func TestDryRun(t *testing.T) {
	c := newCLI(t, 0)
	before := c.get(t, "2B91F716")
	c.mustRun(t, "retry --dry-run -d domain1.test -t +5h")
	out, msg := c.stdout.String(), c.stderr.String()
	if !strings.Contains(msg, "Dry run: would reschedule 3 domain(s) with recipients at domain1.test in 3 message(s); the other domains of 2 of them keep their times; nothing was changed.") ||
		!strings.Contains(msg, "Per domain:\n  domain1.test  3\n") {
		t.Errorf("dry run stderr:\n%s", msg)
	}
	if strings.Count(out, "bill") != 3 || !strings.Contains(out, "| ID ") {
		t.Errorf("dry run rows:\n%s", out)
	}
	if after := c.get(t, "2B91F716"); !domainDue(t, after, "domain1.test").Equal(domainDue(t, before, "domain1.test")) {
		t.Errorf("a dry run changed the queue")
	}

	c.mustRun(t, "cancel --dry-run --all -o ids")
	if c.stdout.String() != "2B91F716\n12B91F716\n22B91F716\n32B91F716\n42B91F716\n52B91F716\n" ||
		!strings.Contains(c.stderr.String(), "would cancel delivery of 6 message(s)") {
		t.Errorf("cancel --dry-run --all -o ids: %q %q", c.stdout.String(), c.stderr.String())
	}
	if n, _ := c.env.Queue.Count(t.Context(), queue.Filter{}); n != 6 {
		t.Errorf("a dry run cancelled messages: %d left", n)
	}

	// A table shows the first rows only.
	c = newCLI(t, 40)
	c.mustRun(t, "cancel --dry-run --all")
	if n := strings.Count(c.stdout.String(), "\n| ") - 1; n < dryRunRows || strings.Count(c.stdout.String(), "| ID ") != 1 {
		t.Errorf("dry run table: %d lines of rows", n)
	}
	if !strings.Contains(c.stderr.String(), "(the first 10 of 46 are shown)") {
		t.Errorf("dry run note: %q", c.stderr.String())
	}
}

func TestIDsFromStdin(t *testing.T) {
	c := newCLI(t, 0)
	c.mustRun(t, "list -s bill1@example.net -o ids")
	ids := c.stdout.String()
	c.env.Stdin = strings.NewReader(ids + "\n# a comment\n  12b91f716  \n")
	c.mustRun(t, "cancel -")
	if c.stderr.String() != "\nCancelled delivery of 2 message(s).\n" || c.get(t, "2B91F716") != nil || c.get(t, "12B91F716") != nil {
		t.Errorf("cancel -: %q", c.stderr.String())
	}

	// One bad id: nothing happens.
	c.env.Stdin = strings.NewReader("22B91F716\nzz\n")
	err := c.run(t, "cancel -")
	var pe *plainError
	if !errors.As(err, &pe) || err.Error() != `Failed to parse id "zz".` || ExitCode(err) != 1 || c.get(t, "22B91F716") == nil {
		t.Errorf("bad id on stdin: %v", err)
	}

	// Nothing on stdin selects nothing (never everything).
	c.env.Stdin = strings.NewReader("")
	if err := c.run(t, "retry - --all"); err == nil || err.Error() != "No messages were found." {
		t.Errorf("empty stdin: %v", err)
	}
	c.env.Stdin = strings.NewReader("32B91F716\n")
	c.mustRun(t, "status -")
	if !strings.Contains(c.stdout.String(), "| ID           | 32B91F716") {
		t.Errorf("status -:\n%s", c.stdout.String())
	}
}

func TestBadInput(t *testing.T) {
	c := newCLI(t, 0)
	tests := []struct {
		line string
		code int
		want string
	}{
		{"status 52B91F716 xyz", 1, `Failed to parse id "xyz".`},
		{"retry xyz", 1, `Failed to parse id "xyz".`},
		{"raw xyz", 1, `Failed to parse id "xyz".`},
		{"raw FFFF", 1, "message FFFF not found"},
		{"list -o xml", 2, "invalid value 'xml' for '--format <FORMAT>': want table, wide, json, csv or ids"},
		{"summary -o ids", 2, "want table, json or csv"},
		{"list -b yesterday", 2, "RFC 3339"},
		{"list --status lost", 2, "want scheduled, delivered, tempfail or permfail"},
		{"list -p x", 2, "invalid value 'x' for '--page-size'"},
		{"summary --by week", 2, "want domain, sender, status, age or sender-domain"},
		{"audit -n -1", 2, "invalid value '-1' for '--limit'"},
		{"demo many", 2, "invalid value 'many'"},
		{"add -s a@b.c -", 2, "missing '--rcpt <RCPT>'"},
		{"add -r a@b.c -", 2, "missing '--sender <SENDER>'"},
		{"add -", 1, "standard input is empty: there is no message to queue"},
		{"import /nonexistent/x.jsonl", 1, "open /nonexistent/x.jsonl: no such file or directory"},
		{"list -s @", 2, `sender filter: invalid address pattern "@"`},
		{"cancel -r <> --dry-run", 2, "the empty address <> is a sender"},
		{"retry -d @ --all", 2, "domain filter"},
	}
	for _, tt := range tests {
		err := c.run(t, tt.line)
		if ExitCode(err) != tt.code || err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: exit %d, %v; want exit %d and %q", tt.line, ExitCode(err), err, tt.code, tt.want)
		}
		if c.stdout.Len() != 0 {
			t.Errorf("%s: wrote %q to stdout", tt.line, c.stdout.String())
		}
	}
}

func TestPaging(t *testing.T) {
	c := newCLI(t, 45) // 51 messages: pages of 20, 20, 11
	keys := 0
	c.env.Terminal = true
	c.env.ReadKey = func() (rune, error) { keys++; return ' ', nil }
	const prompt = "\n--- Press any key to continue or 'q' to exit ---\n"

	c.mustRun(t, "list")
	if keys != 2 || strings.Count(c.stderr.String(), prompt) != 2 || strings.Count(c.stdout.String(), "| ID ") != 3 {
		t.Errorf("3 pages: %d keys, %d prompts, %d tables", keys, strings.Count(c.stderr.String(), prompt), strings.Count(c.stdout.String(), "| ID "))
	}
	if !strings.HasSuffix(c.stderr.String(), "\n51 queued message(s) found.\n") {
		t.Errorf("stderr ends %q", c.stderr.String())
	}

	keys = 0
	c.env.ReadKey = func() (rune, error) { keys++; return 'q', nil }
	c.mustRun(t, "list -p 10")
	if keys != 1 || strings.Count(c.stdout.String(), "| ID ") != 1 || !strings.HasSuffix(c.stderr.String(), "\n51 queued message(s) found.\n") {
		t.Errorf("q after the first page: %d keys, stdout:\n%s\nstderr: %q", keys, c.stdout.String(), c.stderr.String())
	}
	if n := strings.Count(c.stdout.String(), "\n| ") - 1; n < 10 {
		t.Errorf("first page of 10 has %d row lines", n)
	}

	// Never a stop when stdout is not a terminal, nor for machine formats;
	// off a terminal the list is one table, unless -p asks for pages.
	keys = 0
	c.env.Terminal = false
	c.mustRun(t, "list")
	if keys != 0 || strings.Contains(c.stderr.String(), "Press any key") || strings.Count(c.stdout.String(), "| ID ") != 1 {
		t.Errorf("not a terminal: %d keys, %d tables", keys, strings.Count(c.stdout.String(), "| ID "))
	}
	if n := strings.Count(c.stdout.String(), "\n+-"); n != 1+51 { // under the header, under each row
		t.Errorf("not a terminal: %d rule lines, want 52 (one table of 51 rows)", n)
	}
	if strings.Count(c.stderr.String(), "\n") != 4 || !strings.HasSuffix(c.stderr.String(), "\n51 queued message(s) found.\n") {
		t.Errorf("not a terminal: stderr %q", c.stderr.String())
	}
	c.mustRun(t, "list -p 20")
	if keys != 0 || strings.Count(c.stdout.String(), "| ID ") != 3 {
		t.Errorf("not a terminal, -p 20: %d keys, %d tables", keys, strings.Count(c.stdout.String(), "| ID "))
	}
	// Memory is bounded: past wholeTableRows rows, another table starts.
	defer func(n int) { wholeTableRows = n }(wholeTableRows)
	wholeTableRows = 25
	c.mustRun(t, "list")
	if n := strings.Count(c.stdout.String(), "| ID "); n != 3 || !strings.HasSuffix(c.stderr.String(), "\n51 queued message(s) found.\n") {
		t.Errorf("51 rows by tables of at most 25: %d tables", n)
	}
	wholeTableRows = 10000
	c.env.Terminal = true
	c.mustRun(t, "list -o ids -p 5")
	if keys != 0 || strings.Count(c.stdout.String(), "\n") != 51 {
		t.Errorf("ids on a terminal: %d keys, %d lines", keys, strings.Count(c.stdout.String(), "\n"))
	}

	// A page size that divides the count ends without an empty table or a last prompt.
	keys = 0
	c.env.ReadKey = func() (rune, error) { keys++; return ' ', nil }
	c.mustRun(t, "list -p 17")
	if keys != 2 || strings.Count(c.stdout.String(), "| ID ") != 3 {
		t.Errorf("51 by 17: %d keys, %d tables", keys, strings.Count(c.stdout.String(), "| ID "))
	}
}

const testEML = "From: Alice <alice@example.com>\r\nTo: bob@example.org, carol@example.net\r\nSubject: hi\r\nMessage-ID: <1@example.com>\r\n\r\nHello.\r\n"

func TestAddRawImport(t *testing.T) {
	c := newCLI(t, -1)
	dir := t.TempDir()
	eml := filepath.Join(dir, "m.eml")
	if err := os.WriteFile(eml, []byte(testEML), 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustRun(t, "queue add -s <> -r x@example.org -r y@example.org --env-id e1 --priority 3 "+eml)
	id := strings.TrimSpace(c.stdout.String())
	m := c.get(t, id)
	if m == nil || m.ReturnPath != "" || m.EnvID != "e1" || m.Priority != 3 || len(m.Recipients()) != 2 || m.Size != int64(len(testEML)) {
		t.Fatalf("added message: %+v", m)
	}
	c.mustRun(t, "raw "+id)
	if c.stdout.String() != testEML {
		t.Errorf("raw: %q", c.stdout.String())
	}

	// From stdin.
	c.env.Stdin = strings.NewReader(testEML)
	c.mustRun(t, "add -s a@example.com -r b@example.org -")
	if m := c.get(t, strings.TrimSpace(c.stdout.String())); m == nil || m.ReturnPath != "a@example.com" {
		t.Errorf("add -: %+v", m)
	}

	// .eml with the envelope from the headers, and from the flags.
	c.mustRun(t, "import "+eml)
	if c.stderr.String() != "Imported 1 message(s).\n" {
		t.Errorf("import eml: %q", c.stderr.String())
	}
	c.mustRun(t, "list -s alice@example.com -o ids")
	if strings.Count(c.stdout.String(), "\n") != 1 {
		t.Errorf("envelope from headers: %q", c.stdout.String())
	}
	c.mustRun(t, "import -s env@example.com -r only@example.org "+eml)
	c.mustRun(t, "list -s env@example.com -o csv")
	if strings.Count(c.stdout.String(), "only@example.org") != 1 || strings.Count(c.stdout.String(), "\n") != 2 {
		t.Errorf("envelope from flags:\n%s", c.stdout.String())
	}

	// JSON Lines round trip: export the demo queue, import it into this one.
	demo := newCLI(t, 5)
	demo.mustRun(t, "list -o json")
	jsonl := filepath.Join(dir, "q.jsonl")
	if err := os.WriteFile(jsonl, demo.stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustRun(t, "import "+jsonl)
	if c.stderr.String() != "Imported 11 message(s).\n" {
		t.Errorf("import jsonl: %q", c.stderr.String())
	}
	c.mustRun(t, "status 52B91F716")
	demo.mustRun(t, "status 52B91F716")
	if c.stdout.String() != demo.stdout.String() {
		t.Errorf("imported message differs:\n%s\nwant:\n%s", c.stdout.String(), demo.stdout.String())
	}
}

func TestDemoSummaryAudit(t *testing.T) {
	c := newCLI(t, -1)
	c.mustRun(t, "queue demo 4 --seed 7")
	if c.stderr.String() != "Loaded 10 demo message(s).\n" {
		t.Errorf("demo: %q", c.stderr.String())
	}
	c.mustRun(t, "summary --by status -o json")
	total := 0
	for _, line := range strings.Split(strings.TrimSpace(c.stdout.String()), "\n") {
		var r summaryJSON
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.By != "status" {
			t.Errorf("summary row %+v", r)
		}
		total += r.Count
	}
	if total < 10 {
		t.Errorf("summary by status counts %d messages, want at least 10", total)
	}
	c.mustRun(t, "summary -s bill1@example.net -o csv")
	if c.stdout.String() != "by,key,count,size,oldest,newest\ndomain,domain1.test,1,1141,2023-03-01T11:44:22Z,2023-03-01T11:44:22Z\ndomain,domain2.test,1,1141,2023-03-01T11:44:22Z,2023-03-01T11:44:22Z\n" {
		t.Errorf("summary csv:\n%s", c.stdout.String())
	}

	c.mustRun(t, "retry 52B91F716")
	c.mustRun(t, "cancel 42B91F716")
	c.mustRun(t, "audit -o json -n 1")
	var e auditJSON
	if err := json.Unmarshal(c.stdout.Bytes(), &e); err != nil {
		t.Fatalf("%v: %q", err, c.stdout.String())
	}
	if e.Verb != "cancel" || e.Count != 1 || len(e.IDs) != 1 || e.IDs[0] != "42B91F716" {
		t.Errorf("newest audit entry: %+v", e)
	}
	c.mustRun(t, "audit --verb retry")
	if !strings.Contains(c.stdout.String(), "52B91F716") || strings.Contains(c.stdout.String(), "cancel") ||
		!strings.HasSuffix(c.stderr.String(), "\n1 change(s) found.\n") {
		t.Errorf("audit --verb retry:\n%s%s", c.stdout.String(), c.stderr.String())
	}
	c.mustRun(t, "audit --since +1d")
	if c.stdout.Len() != 0 || c.stderr.String() != "\n0 change(s) found.\n" {
		t.Errorf("audit --since tomorrow: %q %q", c.stdout.String(), c.stderr.String())
	}
	c.mustRun(t, "audit -o csv")
	if !strings.HasPrefix(c.stdout.String(), "seq,at,user,source,verb,filter,count,ids\n") || strings.Count(c.stdout.String(), "\n") != 4 {
		t.Errorf("audit csv:\n%s", c.stdout.String())
	}
}

func TestCancelDomain(t *testing.T) {
	c := newCLI(t, 0)
	// -d cancels the recipients of one domain; the rest of each message stays.
	c.mustRun(t, "queue cancel -d domain2.test")
	if got := c.stderr.String(); got != "\nCancelled delivery of 2 message(s).\n" {
		t.Errorf("stderr %q", got)
	}
	for _, id := range []string{"2B91F716", "22B91F716"} {
		m := c.get(t, id)
		if m == nil {
			t.Fatalf("%s removed although recipients in other domains are pending", id)
		}
		for _, r := range m.Recipients() {
			inDomain := strings.HasSuffix(r.Address, "@domain2.test")
			if inDomain != (r.Status == queue.PermFail) || !inDomain && r.Status != queue.Scheduled {
				t.Errorf("%s: %s is %s", id, r.Address, r.Status.Short())
			}
		}
	}
	// A message left with nothing pending goes.
	c.mustRun(t, "cancel --domain example.org --dry-run -o ids")
	if got := c.stdout.String(); got != "32B91F716\n42B91F716\n52B91F716\n" {
		t.Errorf("dry run of -d example.org: %q", got)
	}
	c.mustRun(t, "cancel --domain example.org")
	for _, id := range []string{"32B91F716", "42B91F716", "52B91F716"} {
		if c.get(t, id) != nil {
			t.Errorf("%s still queued", id)
		}
	}
	if c.get(t, "12B91F716") == nil {
		t.Errorf("12B91F716 (domain1.test only) was cancelled")
	}
	audit, err := c.env.Queue.Audit(t.Context(), queue.AuditQuery{Limit: 1})
	if err != nil || len(audit) != 1 || !strings.Contains(audit[0].Filter, "domain=example.org") {
		t.Errorf("audit: %v %+v", err, audit)
	}
	// -d and -r together name the recipients that match both.
	c.mustRun(t, "cancel -d domain1.test -r rcpt3@domain1.test")
	if m := c.get(t, "12B91F716"); m == nil || m.Recipients()[0].Status != queue.PermFail || m.Recipients()[1].Status != queue.Scheduled {
		t.Errorf("-d with -r: 12B91F716 = %+v", m)
	}
}

// After `list -o ids | cancel -`, the audit says where the ids came from, not
// every id, and its table fits the screen however long a filter is.
func TestAuditOfIDsFromStdin(t *testing.T) {
	c := newCLI(t, 300)
	c.mustRun(t, "list -o ids")
	c.env.Stdin = strings.NewReader(c.stdout.String())
	c.mustRun(t, "retry - -t +1h")
	c.env.Stdin = strings.NewReader("2B91F716\n12B91F716\n")
	c.mustRun(t, "cancel - 22B91F716")
	c.mustRun(t, "cancel -s bill4@example.net 32B91F716")
	entries, err := c.env.Queue.Audit(t.Context(), queue.AuditQuery{Limit: 3})
	if err != nil || len(entries) != 3 {
		t.Fatalf("audit: %v, %d entries", err, len(entries))
	}
	wantFilters := []string{`ids=32B91F716 sender=bill4@example.net`, `ids="3 from the command line and stdin"`, `ids="306 from stdin"; at=`}
	for i, want := range wantFilters {
		if !strings.HasPrefix(entries[i].Filter, want) {
			t.Errorf("audit filter %d = %q, want it to start %q", i, entries[i].Filter, want)
		}
	}
	if len(entries[2].IDs) != 306 {
		t.Errorf("retried ids recorded: %d, want 306", len(entries[2].IDs))
	}
	c.mustRun(t, "audit -o json -n 3")
	lines := strings.Split(strings.TrimSpace(c.stdout.String()), "\n")
	var retried struct {
		Filter string
		IDs    []string
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &retried); err != nil || !strings.HasPrefix(retried.Filter, `ids="306 from stdin"; at=`) || len(retried.IDs) != 306 {
		t.Errorf("audit JSON of the retry: %v, %q, %d ids", err, retried.Filter, len(retried.IDs))
	}

	// A long filter is wrapped (and cut) to fit: the terminal's width, or
	// offTerminalWidth columns off a terminal.
	long := queue.AuditEntry{Seq: 7, At: cliNow, User: "root", Source: "cli", Verb: "cancel", Count: 1,
		Filter: "ids=" + strings.Repeat("ABCDEF012,", 600) + " sender=x@example.org", IDs: []queue.ID{1, 2, 3, 4}}
	for _, width := range []int{offTerminalWidth, 80, 200} {
		table := AuditTable([]queue.AuditEntry{long, entries[0]}, false, width)
		for _, line := range strings.Split(strings.TrimSuffix(table, "\n"), "\n") {
			if n := utf8.RuneCountInString(line); n > width {
				t.Fatalf("width %d: a line of %d columns:\n%s", width, n, table)
			}
		}
		if width >= 100 && !strings.Contains(table, "ids=ABCDEF012,") || !strings.Contains(table, "…") || strings.Count(table, "ABCDEF") > 200 {
			t.Errorf("width %d: the long filter is not cut:\n%s", width, table)
		}
	}
	c.env.Width = func() int { return 90 }
	c.mustRun(t, "audit")
	for _, line := range strings.Split(c.stdout.String(), "\n") {
		if utf8.RuneCountInString(line) > 90 {
			t.Fatalf("audit on a 90-column terminal: %q", line)
		}
	}
}

// `queue import` into an empty queue writes the queue file directly (the
// queue's RunImport), not the -wal file; the queue is in WAL mode after.
func TestImportIntoEmptyQueueWritesTheFile(t *testing.T) {
	demo := newCLI(t, 2000)
	demo.mustRun(t, "list -o json")
	jsonl := filepath.Join(t.TempDir(), "q.jsonl")
	if err := os.WriteFile(jsonl, demo.stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, -1)
	c.mustRun(t, "import "+jsonl)
	if c.stderr.String() != "Imported 2006 message(s).\n" {
		t.Errorf("import: %q", c.stderr.String())
	}
	path := c.env.Queue.Location()
	size := func(name string) int64 {
		st, err := os.Stat(name)
		if err != nil {
			return 0
		}
		return st.Size()
	}
	if wal, file := size(path+"-wal"), size(path); wal > file/20 {
		t.Errorf("the import went through the -wal file: %d bytes beside a %d-byte queue", wal, file)
	}
	c.mustRun(t, "list -o ids")
	if n := strings.Count(c.stdout.String(), "\n"); n != 2006 {
		t.Errorf("%d messages listed after the import", n)
	}
}
