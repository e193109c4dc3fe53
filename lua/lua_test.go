package lua

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mqsh/queue"
)

func queueFilterAll() queue.Filter { return queue.Filter{} }

func TestDryRunChangesNothingButReports(t *testing.T) {
	q := openQueue(t)
	loadFixtures(t, q)
	before := snapshot(t, q)
	code := `
		local n = queue.cancel{sender = "alice@example.net"}
		-- later reads in the same run see the change
		assert(queue.count{sender = "alice@example.net"} == 0)
		queue.retry("300", {at = "+1h"})
		queue.retry("300", {at = "+2h"})
		print("cancelled", n)
	`
	rep, out, _, err := runCode(t, q, "dry.lua", code, func(o *Options) { o.DryRun = true })
	if err != nil {
		t.Fatal(err)
	}
	if out != "cancelled\t2\n" {
		t.Errorf("stdout %q", out)
	}
	if !rep.DryRun || rep.Cancelled != 2 || rep.Retried != 1 {
		t.Errorf("report %+v, want a dry run cancelling 2 and retrying 1", rep)
	}
	want := "dry run: script dry.lua would retry 1 and cancel 2 message(s) (example.org 2, gmail.com 2, yahoo.com 1); nothing changed"
	if got := rep.Summary(); got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
	if after := snapshot(t, q); after != before {
		t.Errorf("a dry run changed the queue:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestRunCommitsAndSummarises(t *testing.T) {
	q := openQueue(t)
	loadFixtures(t, q)
	rep, _, _, err := runCode(t, q, "purge.lua", `queue.cancel{sender = "alice@example.net"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "script purge.lua: retried 0, cancelled 2 message(s) (gmail.com 2, yahoo.com 1)"; rep.Summary() != want {
		t.Errorf("summary %q, want %q", rep.Summary(), want)
	}
	if n, _ := q.Count(context.Background(), queue.Filter{Sender: []string{"alice@example.net"}}); n != 0 {
		t.Errorf("%d messages from alice left", n)
	}
}

func TestAuditRecordsScriptAndArgs(t *testing.T) {
	q := openQueue(t)
	loadFixtures(t, q)
	_, _, _, err := runCode(t, q, "purge-sender.lua", `queue.cancel{sender = arg[1]}; queue.retry("300")`, nil, "alice@example.net", "x y")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := q.Audit(context.Background(), queue.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var sources, verbs []string
	for _, e := range entries {
		if e.Verb == "retry" || e.Verb == "cancel" {
			sources = append(sources, e.Source)
			verbs = append(verbs, e.Verb)
		}
	}
	if len(sources) != 2 {
		t.Fatalf("audit entries %+v, want a cancel and a retry", entries)
	}
	for _, s := range sources {
		if s != "script purge-sender.lua alice@example.net 'x y'" {
			t.Errorf("audit source %q", s)
		}
	}

	// A one-liner records its code.
	if _, _, _, err := runCode(t, q, "lua", `queue.retry("300")`, func(o *Options) { o.Name = "" }); err != nil {
		t.Fatal(err)
	}
	entries, _ = q.Audit(context.Background(), queue.AuditQuery{Limit: 1})
	if len(entries) != 1 || entries[0].Source != `lua queue.retry("300")` {
		t.Errorf("one-liner audit %+v", entries)
	}
}

func TestErrorsNameScriptAndLine(t *testing.T) {
	q := openQueue(t)
	tests := []struct{ code, want string }{
		{"local a = 1\nlocal b = a.x\n", "policy.lua:2: attempt to index a non-table object(number) with key 'x'; nothing changed"},
		{"\n\nqueue.count{colour = 1}\n", `policy.lua:3: queue.count: unknown filter key "colour": use ids, sender, rcpt, domain, after, before, created_after, created_before, status, held, subject, message_id, header, larger, smaller, client_ip, user, all; nothing changed`},
		{"local x = \n", "policy.lua: syntax error at the end of the script (a missing end, bracket or quote?)"},
		{"x = 1\ny = = 2\n", "policy.lua:2: syntax error near '='"},
		{"#!/usr/bin/env mqsh\nerror('line two')\n", "policy.lua:2: line two; nothing changed"},
		{"error({code = 1})", "policy.lua: table: "},
	}
	for _, tt := range tests {
		_, _, _, err := runCode(t, q, "policy.lua", tt.code, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q:\n got %v\nwant %s", tt.code, err, tt.want)
		}
	}
}

func TestIncomplete(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"for i = 1, 3 do", true},
		{"for i = 1, 3 do\nprint(i)\nend", false},
		{"if x then", true},
		{"local t = {", true},
		{"queue.count{domain =", true},
		{"x = [[long", true},
		{"x = 1 +", true},
		{"function f()", true},
		{"print('unterminated", false},
		{"x = )", false},
		{"return 1 2", false},
		{"print(1)", false},
		{"n", false},
		{"queue.count()", false},
		{"x.", true},
		{"", false},
	}
	for _, tt := range tests {
		if got := Incomplete(tt.code); got != tt.want {
			t.Errorf("Incomplete(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestSessionPrompt(t *testing.T) {
	q := openQueue(t)
	loadFixtures(t, q)
	var out bytes.Buffer
	s := NewSession(q, Options{Name: "lua", Stdout: &out, Now: clock})
	defer s.Close()
	ctx := context.Background()
	steps := []struct{ code, out string }{
		{"queue.count()", "5\n"},
		{"n = queue.count{sender = '<>'}", ""},
		{"n + 1", "2\n"},
		{"return n * 10", "10\n"},
		{"local x = n return x, 'x'", "1\t\"x\"\n"},
		{"if n > 0 then return 'some' end", "\"some\"\n"},
		{"for i = 1, 2 do end", ""},
		{"1, 'a', nil", "1\t\"a\"\tnil\n"},
		{"{b = 2, 1}", "{\n  1,\n  b = 2,\n}\n"},
		{"queue.get('300').domains[1].recipients[1]", "{\n  address = \"alice@example.org\",\n  code = 451,\n  enhanced = \"4.5.3\",\n  message = \"Try again later.\",\n  status = \"tempfail\",\n}\n"},
		{"for i = 1, 2 do print(i) end", "1\n2\n"},
	}
	for _, st := range steps {
		out.Reset()
		if _, err := s.Exec(ctx, st.code); err != nil {
			t.Fatalf("%s: %v", st.code, err)
		}
		if out.String() != st.out {
			t.Errorf("%s printed %q, want %q", st.code, out.String(), st.out)
		}
	}
	rep, err := s.Exec(ctx, "queue.cancel('100')")
	if err != nil || rep.Cancelled != 1 {
		t.Fatalf("cancel: %+v %v", rep, err)
	}
	if _, err := s.Exec(ctx, "queue.cancel('200') error('no')"); err == nil {
		t.Fatal("no error")
	}
	if n, _ := q.Count(ctx, queue.Filter{}); n != 4 {
		t.Errorf("%d messages, want 4: each chunk is its own transaction", n)
	}
	// An iterator kept from an earlier chunk reads in the current chunk's
	// transaction.
	if _, err := s.Exec(ctx, "it = queue.each()"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, err := s.Exec(ctx, "it().id"); err != nil || out.String() != "\"200\"\n" {
		t.Errorf("kept iterator: %q %v", out.String(), err)
	}
}

func TestFind(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	write := func(dir, name, code string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(dir1, "mine.lua", "-- mine.lua: first\n")
	write(dir2, "mine.lua", "-- second\n")
	write(dir2, "other.lua", "-- other\n")
	write(dir2, "purge-sender.lua", "-- my own purge-sender\n")
	byPath := write(t.TempDir(), "x.lua", "return 1")
	dirs := []string{dir1, dir2}

	tests := []struct {
		name, wantName, wantPath, wantCode string
	}{
		{"mine", "mine.lua", filepath.Join(dir1, "mine.lua"), "-- mine.lua: first\n"},
		{"mine.lua", "mine.lua", filepath.Join(dir1, "mine.lua"), ""},
		{"other", "other.lua", filepath.Join(dir2, "other.lua"), ""},
		{"purge-sender", "purge-sender.lua", filepath.Join(dir2, "purge-sender.lua"), "" /* a folder wins over the built-in */},
		{"purge-bounces", "purge-bounces.lua", "", ""},
		{"domain-report.lua", "domain-report.lua", "", ""},
		{byPath, "x.lua", byPath, "return 1"},
	}
	for _, tt := range tests {
		sc, err := Find(tt.name, dirs)
		if err != nil {
			t.Errorf("Find(%q): %v", tt.name, err)
			continue
		}
		if sc.Name != tt.wantName || sc.Path != tt.wantPath || tt.wantCode != "" && sc.Code != tt.wantCode {
			t.Errorf("Find(%q) = %+v, want name %q path %q", tt.name, sc, tt.wantName, tt.wantPath)
		}
	}
	for _, name := range []string{"nosuch", "lib/spread", "../lua/testdata/secret", filepath.Join(dir1, "nosuch.lua"), dir1, ""} {
		if _, err := Find(name, dirs); !errors.Is(err, ErrNotFound) {
			t.Errorf("Find(%q): %v, want not found", name, err)
		}
	}
	if names := Names(dirs); !contains(names, "mine") || !contains(names, "reschedule-domain") || contains(names, "spread") {
		t.Errorf("Names = %v", names)
	}
	if d := Describe("-- mine.lua: first\n"); d != "first" {
		t.Errorf("Describe = %q", d)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDefaultScriptDirs(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"HOME": "/home/ann"}, []string{"scripts", "/home/ann/.config/mqsh/scripts"}},
		{map[string]string{"HOME": "/home/ann", "XDG_CONFIG_HOME": "/cfg"}, []string{"scripts", "/cfg/mqsh/scripts"}},
		{map[string]string{"MQSH_SCRIPTS": "/a::/b", "HOME": "/home/ann"}, []string{"/a", "/b"}},
		{map[string]string{}, []string{"scripts"}},
	}
	for _, tt := range tests {
		if got := DefaultScriptDirs(env(tt.env)); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("DefaultScriptDirs(%v) = %v, want %v", tt.env, got, tt.want)
		}
	}
}

func TestRunReadsPath(t *testing.T) {
	q := openQueue(t)
	loadFixtures(t, q)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "near.lua"), []byte("return {v = 7}"), 0o644)
	p := filepath.Join(dir, "main.lua")
	os.WriteFile(p, []byte("print(require('near').v)"), 0o644)
	var out bytes.Buffer
	rep, err := Run(context.Background(), q, Options{Path: p, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Script != "main.lua" || out.String() != "7\n" {
		t.Errorf("report %+v, stdout %q", rep, out.String())
	}
	if _, err := Run(context.Background(), q, Options{Path: filepath.Join(dir, "gone.lua")}); err == nil {
		t.Error("no error for a missing file")
	}
}

func TestSummaryLine(t *testing.T) {
	r := Report{Script: "x.lua", Retried: 3, Domains: map[string]int{"a": 1, "b": 5, "c": 2, "d": 2, "e": 1, "f": 1, "g": 1}}
	if got, want := r.Summary(), "script x.lua: retried 3, cancelled 0 message(s) (b 5, c 2, d 2, a 1, e 1, 2 more domain(s))"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got, want := (Report{Script: "x.lua"}).Summary(), "script x.lua: retried 0, cancelled 0 message(s)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// openReadOnly returns the fixtures in a queue file with no write permission,
// opened read-only (the option, since root may write a 0444 file anyway).
func openReadOnly(t *testing.T) *queue.Queue {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ro.db")
	q, err := queue.Open(path, queue.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	loadFixtures(t, q)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	ro, err := queue.Open(path, queue.Options{Now: clock, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	if !ro.ReadOnly() {
		t.Fatal("the queue is not read-only")
	}
	return ro
}

// On a read-only queue a script runs in a read transaction: reads work (by
// Run, by the built-in domain-report, at the prompt, in a dry run), and a
// change raises an error that says why, with nothing changed.
func TestReadOnlyQueue(t *testing.T) {
	q := openReadOnly(t)
	before := snapshot(t, q)

	_, out, _, err := runCode(t, q, "lua", `print(queue.count{}) for m in queue.each{domain = "gmail.com"} do print(m.id) end`, nil)
	if err != nil {
		t.Fatalf("reading script: %v", err)
	}
	if out != "5\n100\n200\n" {
		t.Errorf("printed %q", out)
	}
	_, out, _, err = runCode(t, q, "lua", `print(queue.count{})`, func(o *Options) { o.DryRun = true })
	if err != nil || out != "5\n" {
		t.Errorf("dry run: printed %q, error %v", out, err)
	}

	sc, err := Find("domain-report", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, out, _, err = runCode(t, q, sc.Name, sc.Code, nil)
	if err != nil {
		t.Fatalf("domain-report: %v", err)
	}
	if !strings.Contains(out, "gmail.com") || !strings.Contains(out, "example.org") {
		t.Errorf("domain-report printed:\n%s", out)
	}

	s := NewSession(q, Options{Name: "lua", Now: clock})
	defer s.Close()
	var buf bytes.Buffer
	s.stdout = &buf
	if _, err := s.Exec(context.Background(), `queue.count{status = "tempfail"}`); err != nil {
		t.Fatalf("prompt: %v", err)
	}
	if buf.String() != "2\n" {
		t.Errorf("prompt printed %q, want 2", buf.String())
	}

	for _, code := range []string{
		"assert(queue.count{} == 5)\nqueue.retry({all = true})\nprint('went on')",
		"assert(queue.count{} == 5)\nqueue.cancel('100')\nprint('went on')",
	} {
		rep, out, _, err := runCode(t, q, "change.lua", code, nil)
		want := "change.lua:2: queue.retry: "
		if strings.Contains(code, "cancel") {
			want = "change.lua:2: queue.cancel: "
		}
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "ro.db was opened read-only") ||
			!strings.HasSuffix(err.Error(), "nothing changed") {
			t.Errorf("error %v\nwant %q... saying ro.db was opened read-only and nothing changed", err, want)
		}
		if out != "" {
			t.Errorf("the script went on after the change failed: printed %q", out)
		}
		if rep.Changed() {
			t.Errorf("report says something changed: %+v", rep)
		}
		if _, err := s.Exec(context.Background(), code); err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("prompt: error %v, want the queue read-only", err)
		}
	}
	if after := snapshot(t, q); after != before {
		t.Errorf("the queue changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
