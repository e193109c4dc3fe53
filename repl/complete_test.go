package repl

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mqsh/lua"
	"mqsh/queue"
)

// completeNow is the clock of the completion tests.
var completeNow = time.Date(2024, 5, 1, 10, 30, 15, 0, time.UTC)

// demoQueue opens a queue in a temporary folder holding the documented demo
// messages plus n generated ones.
func demoQueue(t testing.TB, n int) *queue.Queue {
	t.Helper()
	q, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if _, err := q.LoadDemo(context.Background(), n, 1); err != nil {
		t.Fatal(err)
	}
	return q
}

// testCompleter is a completer over the real command table and a demo queue,
// with a scripts folder holding two scripts and a working folder holding a few
// files.
func testCompleter(t *testing.T, q *queue.Queue) *Completer {
	t.Helper()
	scripts := t.TempDir()
	for _, name := range []string{"zz-local-policy.lua", "zz-other.lua", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(scripts, name), []byte("-- x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, name := range []string{"messages.jsonl", "message one.eml", "policy.lua", ".hidden"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "exports"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "exports", "old.jsonl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewCompleter(Commands(), &Env{Session: Session{Queue: q, Now: func() time.Time { return completeNow }, ScriptDirs: []string{scripts}}})
	c.Dir = dir
	return c
}

func TestCompleteTable(t *testing.T) {
	q := demoQueue(t, 0)
	c := testCompleter(t, q)
	subcommands := []string{"add", "audit", "cancel", "demo", "import", "list", "raw", "retry", "status", "summary"}
	flagsOfList := []string{"--sender", "-s", "--rcpt", "-r", "--before", "-b", "--after", "-a", "--page-size", "-p", "--format", "-o", "--help", "-h"}
	demoSenders := []string{"<>", "bill1@example.net", "bill2@example.net", "bill3@example.net", "bill4@example.net", "bill5@example.net"}
	timeHintsThen := append(append([]string{}, timeHints...), "2024-05-01", "2024-05-01T10:30:15Z")
	tests := []struct {
		name string
		line string
		want []string // exactly, in order; nil = nothing
		has  []string // at least these
		not  []string // none of these
	}{
		// command and subcommand names
		{name: "first word", line: "", has: append([]string{"queue", "help", "exit", "quit", "clear", "run", "lua"}, subcommands...)},
		{name: "first word prefix", line: "qu", want: []string{"queue", "quit"}},
		{name: "subcommand without queue", line: "li", want: []string{"list"}},
		{name: "subcommands after queue", line: "queue ", has: subcommands, not: []string{"queue", "exit"}},
		{name: "subcommand prefix after queue", line: "queue re", want: []string{"release", "resume", "retry"}},
		{name: "unknown command", line: "frobnicate ", want: nil},
		{name: "help topics", line: "help ", has: []string{"queue", "list", "exit", "run"}},
		{name: "help subcommand", line: "help queue st", want: []string{"status"}},
		// flags
		{name: "flags of list", line: "list -", has: flagsOfList},
		{name: "flags of queue list", line: "queue list --", has: []string{"--sender", "--rcpt", "--format", "--help"}, not: []string{"-s"}},
		{name: "long flag prefix", line: "list --se", want: []string{"--sender"}},
		{name: "flags of retry", line: "retry -", has: []string{"--time", "-t", "--domain", "-d", "--dry-run", "--all"}},
		{name: "flags after a value", line: "list -s bill1@example.net -", has: flagsOfList},
		{name: "ids after a value", line: "list -s bill1@example.net ", has: []string{"2B91F716", "52B91F716"}},
		{name: "flags after a boolean", line: "retry --dry-run -", has: []string{"--time"}},
		{name: "a negative argument counts as one", line: "run -2 ", has: []string{"--dry-run"}},
		{name: "no flags after --", line: "cancel -- -", want: nil},
		// values from the queue
		{name: "ids", line: "status ", has: []string{"2B91F716", "12B91F716", "22B91F716", "32B91F716", "42B91F716", "52B91F716"}},
		{name: "id prefix", line: "status 52", want: []string{"52B91F716"}},
		{name: "id prefix lower case", line: "queue status 52b", want: []string{"52B91F716"}},
		{name: "id after an id", line: "cancel 52B91F716 4", want: []string{"42B91F716"}},
		{name: "ids of retry", line: "retry -t now 3", want: []string{"32B91F716"}},
		{name: "not hex", line: "status xyz", want: nil},
		{name: "senders", line: "list -s ", want: demoSenders},
		{name: "sender prefix", line: "list --sender bill3", want: []string{"bill3@example.net"}},
		{name: "sender with =", line: "list --sender=bill2", want: []string{"bill2@example.net"}},
		{name: "sender glued to -s", line: "cancel -sbill5", want: []string{"bill5@example.net"}},
		{name: "bounce sender", line: "retry -s <", want: []string{"<>"}},
		{name: "sender in open quotes", line: `list -s "bill1`, want: []string{"bill1@example.net"}},
		{name: "recipient addresses", line: "list -r rcpt1", want: []string{"rcpt1@domain1.test", "rcpt1@domain2.test"}},
		{name: "recipient domains", line: "list -r domain", has: []string{"domain1.test", "domain2.test", "domain3.test", "domain4.test"}},
		{name: "recipient @domain", line: "cancel --rcpt @example", want: []string{"@example.org"}},
		{name: "recipient with =", line: "cancel --rcpt=del", want: []string{"delay@example.org"}},
		{name: "domains", line: "retry -d ", has: []string{"domain1.test", "domain2.test", "domain3.test", "domain4.test", "example.org"}},
		{name: "domain prefix", line: "retry --domain exa", want: []string{"example.org"}},
		// other kinds of values
		{name: "time hints", line: "retry -t ", want: timeHintsThen},
		{name: "time prefix", line: "list -b +1", want: []string{"+10m", "+1h", "+1d", "+1w"}},
		{name: "time stamp", line: "list --after=2024-05-01T", want: []string{"2024-05-01T10:30:15Z"}},
		{name: "formats", line: "list -o ", want: []string{"table", "wide", "json", "csv", "ids"}},
		{name: "format prefix", line: "status --format=j", want: []string{"json"}},
		{name: "report formats", line: "queue audit -o ", want: []string{"table", "json", "csv"}},
		{name: "summary groups", line: "summary --by ", want: []string{"domain", "sender", "status", "age", "sender-domain"}},
		{name: "status words", line: "list --status t", want: []string{"tempfail"}},
		{name: "script names", line: "run zz", want: []string{"zz-local-policy", "zz-other"}},
		{name: "script paths", line: "run ./", want: []string{"./exports/", "./policy.lua"}},
		{name: "script files here", line: "run pol", want: []string{"policy.lua"}},
		{name: "folders when no script fits", line: "run ex", want: []string{"exports/"}},
		{name: "no folders among scripts", line: "run ", has: []string{"zz-local-policy", "zz-other", "policy.lua"}, not: []string{"exports/"}},
		{name: "file paths", line: "queue import ", want: []string{"exports/", "message one.eml", "messages.jsonl", "policy.lua"}},
		{name: "file in a folder", line: "import exports/", want: []string{"exports/old.jsonl"}},
		{name: "hidden files", line: "import .h", want: []string{".hidden"}},
		{name: "numbers", line: "list -p ", want: nil},
		{name: "free text", line: "lua x", want: nil},
		{name: "flags when no value fits", line: "lua ", has: []string{"--dry-run", "--timeout", "--help"}},
		{name: "comment", line: "# list -s ", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Complete(context.Background(), tt.line).Items
			if tt.has == nil && tt.not == nil && !slices.Equal(got, tt.want) {
				t.Errorf("Complete(%q) = %q, want %q", tt.line, got, tt.want)
			}
			for _, w := range tt.has {
				if !slices.Contains(got, w) {
					t.Errorf("Complete(%q) = %q, missing %q", tt.line, got, w)
				}
			}
			for _, w := range tt.not {
				if slices.Contains(got, w) {
					t.Errorf("Complete(%q) = %q, should not offer %q", tt.line, got, w)
				}
			}
		})
	}
}

// TestCompleteInsert checks what Tab writes into the line: the rest of the
// value, quoted as the word was, then a space (none after a folder).
func TestCompleteInsert(t *testing.T) {
	q := demoQueue(t, 0)
	c := testCompleter(t, q)
	tests := []struct {
		line, want string
	}{
		{"queue li", "queue list "},
		{"li", "list "},
		{"list --sen", "list --sender "},
		{"list -s bill4", "list -s bill4@example.net "},
		{"list --sender=bill4", "list --sender=bill4@example.net "},
		{`list -s "bill4`, `list -s "bill4@example.net" `},
		{`list -s 'bill4`, `list -s 'bill4@example.net' `},
		{"status 52b", "status 52b91F716 "},
		{"retry -t 2024-05-01T", "retry -t 2024-05-01T10:30:15Z "},
		{"import messages", "import messages.jsonl "},
		{"import message\\ o", "import message\\ one.eml "},
		{"import expo", "import exports/"},
		{"run zz-l", "run zz-local-policy "},
		{"help queue ca", "help queue cancel "},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			rs := []rune(tt.line)
			cands, n := c.Do(rs, len(rs))
			if len(cands) != 1 {
				t.Fatalf("Do(%q) offers %q, want one candidate", tt.line, runesList(cands))
			}
			got := tt.line + string(cands[0])
			if got != tt.want {
				t.Errorf("Tab after %q gives %q, want %q", tt.line, got, tt.want)
			}
			// The count of runes shared with the line is the typed part of the value.
			if n > len(rs) {
				t.Errorf("Do(%q) shares %d runes, more than the line has", tt.line, n)
			}
		})
	}
	// A space in a value typed without quotes is escaped.
	comp := Completion{Prefix: "message", Items: []string{"message one.eml"}}
	if got := comp.Insert("message one.eml"); got != `\ one.eml ` {
		t.Errorf("Insert escapes a space as %q", got)
	}
	comp = Completion{Prefix: "it", Quote: '\'', Items: []string{"it's"}}
	if got := comp.Insert("it's"); got != `'\''s' ` {
		t.Errorf("Insert in single quotes gives %q", got)
	}
}

func runesList(rs [][]rune) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r))
	}
	return out
}

// TestCompleteReachesEveryCommand walks the command table and fails when a
// command, by any of its names, or one of its flags cannot be reached by
// completion, or when a value of a kind the completer knows offers nothing.
func TestCompleteReachesEveryCommand(t *testing.T) {
	q := demoQueue(t, 0)
	c := testCompleter(t, q)
	ctx := context.Background()
	offers := func(line, want string) bool {
		return slices.Contains(c.Complete(ctx, line).Items, want)
	}
	for _, cmd := range Commands() {
		for _, name := range cmd.names() {
			for i, w := range name {
				line := strings.Join(append(slices.Clone(name[:i]), w[:1]), " ")
				if !offers(line, w) {
					t.Errorf("%s: Tab after %q does not offer %q", cmd.Name(), line, w)
				}
			}
			line := strings.Join(name, " ")
			for _, f := range cmd.Flags {
				if !offers(line+" --"+f.Long[:1], "--"+f.Long) {
					t.Errorf("%s: flag --%s is not offered after %q", cmd.Name(), f.Long, line+" --"+f.Long[:1])
				}
				if f.Short != "" && !offers(line+" -", "-"+f.Short) {
					t.Errorf("%s: flag -%s is not offered after %q", cmd.Name(), f.Short, line+" -")
				}
				if f.Value != "" && valueKind(f.Kind) {
					for _, form := range []string{line + " --" + f.Long + " ", line + " --" + f.Long + "="} {
						if got := c.Complete(ctx, form).Items; len(got) == 0 {
							t.Errorf("%s: no %v value offered after %q", cmd.Name(), f.Kind, form)
						}
					}
				}
			}
			for i, a := range cmd.Args {
				if !valueKind(a.Kind) {
					continue
				}
				argLine := line + " " + strings.Repeat("x ", i)
				if a.Kind == KindCommand {
					argLine = line + " "
				}
				if got := c.Complete(ctx, argLine).Items; len(got) == 0 {
					t.Errorf("%s: no value offered for %s after %q", cmd.Name(), a.Name, argLine)
				}
			}
		}
	}
}

// valueKind reports whether the completer offers values of kind k on the
// test queue and folders.
func valueKind(k Kind) bool {
	switch k {
	case KindID, KindSender, KindRecipient, KindDomain, KindTime, KindFormat, KindScript, KindFile, KindCommand:
		return true
	}
	return false
}

// TestCompleteCap checks that no more than the limit of suggestions comes back
// from a queue with many senders.
func TestCompleteCap(t *testing.T) {
	q := demoQueue(t, 2000)
	c := testCompleter(t, q)
	for _, line := range []string{"list -s ", "list -r ", "status ", "retry -d "} {
		got := c.Complete(context.Background(), line).Items
		if len(got) == 0 || len(got) > DefaultCompleteLimit {
			t.Errorf("Complete(%q) offers %d suggestions, want 1 to %d", line, len(got), DefaultCompleteLimit)
		}
	}
	c.Limit = 5
	if got := c.Complete(context.Background(), "status ").Items; len(got) != 5 {
		t.Errorf("with Limit 5, Complete offers %d ids", len(got))
	}
}

// TestCompleteBuiltinScripts checks that the scripts shipped with mqsh are
// offered by name.
func TestCompleteBuiltinScripts(t *testing.T) {
	c := testCompleter(t, nil)
	builtin := lua.Names(nil)
	if len(builtin) == 0 {
		t.Skip("no built-in scripts in this build")
	}
	if got := c.Complete(context.Background(), "run ").Items; !slices.Contains(got, builtin[0]) {
		t.Errorf("run offers %q, missing the built-in %q", got, builtin[0])
	}
}

func TestLexLine(t *testing.T) {
	tests := []struct {
		in      string
		words   []string
		cur     string
		quote   rune
		comment bool
	}{
		{in: "", cur: ""},
		{in: "list -s ", words: []string{"list", "-s"}},
		{in: "list -s bi", words: []string{"list", "-s"}, cur: "bi"},
		{in: `list -s "a b`, words: []string{"list", "-s"}, cur: "a b", quote: '"'},
		{in: `a 'x\y' "q\"r\n" z\ w`, words: []string{"a", `x\y`, `q"r\n`}, cur: "z w"},
		{in: "list # -s", words: []string{"list"}, comment: true},
		{in: "a#b", cur: "a#b"},
		// What the three scanners once disagreed on.
		{in: "a # c\nb", words: []string{"a"}, cur: "b"},
		{in: "caf\xc3\xa9 a\xffb", words: []string{"café"}, cur: "a\xffb"},
		{in: "x \"a\\\nb", words: []string{"x"}, cur: "ab", quote: '"'},
		{in: "x a\\\nb", words: []string{"x"}, cur: "ab"},
	}
	for _, tt := range tests {
		lx := lexLine(tt.in)
		if !slices.Equal(lx.words, tt.words) || lx.cur != tt.cur || lx.quote != tt.quote || lx.comment != tt.comment {
			t.Errorf("lexLine(%q) = %q %q %q %v, want %q %q %q %v", tt.in, lx.words, lx.cur, lx.quote, lx.comment, tt.words, tt.cur, tt.quote, tt.comment)
		}
		// Complete words agree with the command-line parser.
		if !tt.comment && tt.quote == 0 {
			words, err := SplitWords(tt.in)
			if err == nil {
				if tt.cur != "" {
					words = words[:len(words)-1]
				}
				if !slices.Equal(words, tt.words) && !(len(words) == 0 && len(tt.words) == 0) {
					t.Errorf("SplitWords(%q) = %q, lexLine says %q", tt.in, words, tt.words)
				}
			}
		}
	}
}
