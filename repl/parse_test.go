package repl

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLookup(t *testing.T) {
	cmds := Commands()
	tests := []struct {
		words []string
		want  string
		n     int
	}{
		{[]string{"queue", "list", "-s", "x"}, "queue list", 2},
		{[]string{"list", "-s", "x"}, "queue list", 1},
		{[]string{"status", "ABC"}, "queue status", 1},
		{[]string{"queue"}, "queue", 1},
		{[]string{"queue", "nope"}, "queue", 1},
		{[]string{"help", "list"}, "help", 1},
		{[]string{"nope"}, "", 0},
		{[]string{"List"}, "", 0},
	}
	for _, tt := range tests {
		c, n := Lookup(cmds, tt.words)
		got := ""
		if c != nil {
			got = c.Name()
		}
		if got != tt.want || n != tt.n {
			t.Errorf("Lookup(%q) = %q, %d; want %q, %d", tt.words, got, n, tt.want, tt.n)
		}
	}
}

func TestParse(t *testing.T) {
	inv, err := Parse([]string{"list", "-s", "bill@example.net", "--rcpt=a@b.c", "-p", "5", "-o", "json"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sender": "bill@example.net", "rcpt": "a@b.c", "page-size": "5", "format": "json"}
	for k, v := range want {
		if inv.Set[k] != v {
			t.Errorf("Set[%s] = %q, want %q", k, inv.Set[k], v)
		}
	}
	if len(inv.Set) != len(want) {
		t.Errorf("Set = %v: only the flags given belong there", inv.Set)
	}

	// Flags after ids, booleans, "-" as an argument, and values that look like flags.
	inv, err = Parse([]string{"queue", "retry", "ABC", "-", "--dry-run", "-b", "-3d", "--", "-x"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inv.Args, []string{"ABC", "-", "-x"}) || inv.Set["dry-run"] != "true" || inv.Set["before"] != "-3d" {
		t.Errorf("retry: args %q set %v", inv.Args, inv.Set)
	}

	// Repeated flags keep every value.
	inv, err = Parse([]string{"queue", "add", "-s", "a@b.c", "-r", "x@y.z", "--rcpt", "w@y.z", "-"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inv.Lists["rcpt"], []string{"x@y.z", "w@y.z"}) {
		t.Errorf("Lists[rcpt] = %q", inv.Lists["rcpt"])
	}

	// Help.
	inv, err = Parse([]string{"status", "-h"})
	if err != nil || inv.Set["help"] != "true" {
		t.Errorf("status -h: %v %v", inv, err)
	}
	if inv, err := Parse(nil); inv != nil || err != nil {
		t.Errorf("Parse(nil) = %v, %v", inv, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		words []string
		want  []string // substrings of the message
	}{
		{[]string{"lst"}, []string{"unknown command 'lst'", "did you mean 'list'?", "Usage: mqsh [OPTIONS] [COMMAND]..."}},
		{[]string{"shell"}, []string{"the shell cannot be opened from inside a batch or the shell itself"}},
		{[]string{"queue", "stauts"}, []string{"unknown command 'queue stauts'", "did you mean 'queue status'?"}},
		{[]string{"xyzzy"}, []string{"unknown command 'xyzzy'\n"}},
		{[]string{"list", "--sendr", "x"}, []string{"unknown flag '--sendr'", "did you mean '--sender'?", "Usage: mqsh queue list [OPTIONS]", "try 'mqsh queue list --help'"}},
		{[]string{"list", "--pagesize", "3"}, []string{"did you mean '--page-size'?"}},
		{[]string{"list", "-x"}, []string{"unknown flag '-x'"}},
		{[]string{"list", "-s"}, []string{"flag '--sender <SENDER>' needs a value"}},
		{[]string{"status"}, []string{"missing argument <IDS>...", "Usage: mqsh queue status [OPTIONS] <IDS>..."}},
		{[]string{"raw"}, []string{"missing argument <ID>"}},
		{[]string{"raw", "A", "B"}, []string{"unexpected argument 'B'"}},
		{[]string{"audit", "extra"}, []string{"unexpected argument 'extra'"}},
		{[]string{"list", "--all"}, []string{"unknown flag '--all'"}},
	}
	for _, tt := range tests {
		_, err := Parse(tt.words)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %v, want a usage error", tt.words, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(ue.Error(), w) {
				t.Errorf("Parse(%q) = %q, want it to contain %q", tt.words, ue.Error(), w)
			}
		}
		if ExitCode(err) != 2 {
			t.Errorf("Parse(%q): exit code %d, want 2", tt.words, ExitCode(err))
		}
	}
}

func TestClosest(t *testing.T) {
	cands := []string{"sender", "rcpt", "before", "after", "page-size", "help"}
	tests := map[string]string{"sendr": "sender", "sedner": "sender", "send": "sender", "rcp": "rcpt", "zzz": "", "befor": "before", "x": ""}
	for in, want := range tests {
		if got := closest(in, cands); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTableIsWellFormed checks the declarations every caller relies on.
func TestTableIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Commands() {
		if seen[c.Name()] {
			t.Errorf("%s declared twice", c.Name())
		}
		seen[c.Name()] = true
		if c.Summary == "" || c.Run == nil {
			t.Errorf("%s: no summary or no Run", c.Name())
		}
		longs, shorts := map[string]bool{"help": true}, map[string]bool{"h": true}
		for _, f := range c.Flags {
			if longs[f.Long] || f.Short != "" && shorts[f.Short] {
				t.Errorf("%s: flag --%s/-%s declared twice", c.Name(), f.Long, f.Short)
			}
			longs[f.Long], shorts[f.Short] = true, true
			if f.Help == "" {
				t.Errorf("%s --%s: no help", c.Name(), f.Long)
			}
		}
		for i, a := range c.Args {
			if a.Repeat && i != len(c.Args)-1 {
				t.Errorf("%s: repeated argument %s is not last", c.Name(), a.Name)
			}
		}
	}
}

func TestParseTimeoutForms(t *testing.T) {
	good := map[string]time.Duration{
		"0":      -1, // no limit
		"30s":    30 * time.Second,
		"5m":     5 * time.Minute,
		"1h":     time.Hour,
		"1d":     24 * time.Hour,
		"500ms":  500 * time.Millisecond,
		"1m30s":  90 * time.Second,
		"1.5s":   1500 * time.Millisecond,
		"1":      time.Second,
		"2.5":    2500 * time.Millisecond,
		" 10 ":   10 * time.Second,
		"250us":  250 * time.Microsecond,
		"0.5":    500 * time.Millisecond,
		"90":     90 * time.Second,
		"1h30m":  90 * time.Minute,
		"+2m":    2 * time.Minute,
		"3600":   time.Hour,
		"0.001":  time.Millisecond,
		"100ms ": 100 * time.Millisecond,
	}
	for in, want := range good {
		got, err := parseTimeout(in)
		if err != nil || got != want {
			t.Errorf("parseTimeout(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "-5s", "-1", "0s", "1e400", "NaN", "inf", "5x", "1e12", "0.0000000001"} {
		if d, err := parseTimeout(in); err == nil {
			t.Errorf("parseTimeout(%q) = %v, want an error", in, d)
		} else if !strings.Contains(err.Error(), "--timeout") {
			t.Errorf("parseTimeout(%q) error %q does not name the flag", in, err)
		}
	}
}

// Words that look like negative numbers or durations (-2h, -1, -0.5) are
// arguments, not flags: no command has a digit for a short flag.
func TestParseNegativeArguments(t *testing.T) {
	inv, err := Parse([]string{"run", "reschedule-domain", "example.org", "-2h", "--dry-run", "-1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"reschedule-domain", "example.org", "-2h", "-1"}; !slices.Equal(inv.Args, want) || inv.Set["dry-run"] != "true" {
		t.Errorf("args %q, set %v; want %q and --dry-run", inv.Args, inv.Set, want)
	}
	inv, err = Parse([]string{"list", "-a", "-1h", "-b", "-.5h"})
	if err != nil || inv.Set["after"] != "-1h" || inv.Set["before"] != "-.5h" || len(inv.Args) != 0 {
		t.Errorf("list -a -1h -b -.5h: %v %v %q", err, inv.Set, inv.Args)
	}
	inv, err = Parse([]string{"run", "s", "--", "--x", "-2"})
	if err != nil || !slices.Equal(inv.Args, []string{"s", "--x", "-2"}) {
		t.Errorf("after --: %v %q", err, inv.Args)
	}
	// Another word starting with a dash is an unknown flag, and the error says
	// where script arguments go.
	for _, words := range [][]string{{"run", "s", "-x"}, {"run", "s", "--force"}, {"lua", "-x"}} {
		_, err = Parse(words)
		if err == nil || !strings.Contains(err.Error(), "unknown flag") || !strings.Contains(err.Error(), "after '--'") {
			t.Errorf("%q: %v", words, err)
		}
	}
	// Commands without free arguments say nothing of --.
	if _, err = Parse([]string{"list", "-x"}); err == nil || strings.Contains(err.Error(), "after '--'") {
		t.Errorf("list -x: %v", err)
	}
}
