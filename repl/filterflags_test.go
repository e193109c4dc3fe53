package repl

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// flagSamples are values of each kind as typed after a flag.
func flagSample(t *testing.T, k *queue.FilterKey) string {
	switch k {
	case queue.KeyHeader:
		return "X-Mailer:*bulk*"
	case queue.KeyClientIP:
		return "192.0.2.0/24"
	}
	switch k.Field.(type) {
	case queue.Field[[]string]:
		return "*bill@example.net"
	case queue.Field[time.Time]:
		return "-2h"
	case queue.Field[int64]:
		return "1.5M"
	case queue.Field[[]queue.Status]:
		return "tempfail,permfail"
	case queue.Field[bool]:
		return ""
	case queue.Field[*bool]:
		return "false"
	}
	t.Fatalf("key %s binds a %T, which this test does not know", k.Name, k.Field)
	return ""
}

// TestFilterFlagsFromTable: list, retry, cancel and summary take every filter
// key that has a flag (all only where messages change), under the table's
// names, and each flag, long or short, as parsed and read by filterOf gives
// the same Filter as the key itself reading the value; its audit text reads
// back to that Filter.
func TestFilterFlagsFromTable(t *testing.T) {
	env := &Env{Session: Session{Now: func() time.Time { return cliNow }}}
	for _, path := range [][]string{{"queue", "list"}, {"queue", "retry"}, {"queue", "cancel"}, {"queue", "summary"}} {
		change := path[1] == "retry" || path[1] == "cancel"
		cmd := findCommand(t, path)
		for _, k := range queue.FilterKeys {
			var flags []Flag
			for _, f := range cmd.Flags {
				if f.Filter == k {
					flags = append(flags, f)
				}
			}
			wantFlag := k.Flag != "" && (change || !k.ChangeOnly)
			if !wantFlag {
				if len(flags) > 0 {
					t.Errorf("%s takes --%s", cmd.Name(), k.Flag)
				}
				continue
			}
			if len(flags) != 1 || flags[0].Long != k.Flag || flags[0].Short != k.Short || flags[0].Value != k.Value {
				t.Errorf("%s: the flag of %s is %+v, want --%s/-%s %s once", cmd.Name(), k.Name, flags, k.Flag, k.Short, k.Value)
				continue
			}
			val := flagSample(t, k)
			var want queue.Filter
			if err := k.Parse(&want, map[bool]string{true: "true", false: val}[val == ""], cliNow); err != nil {
				t.Fatal(err)
			}
			forms := [][]string{{"--" + k.Flag}}
			if k.Short != "" {
				forms = append(forms, []string{"-" + k.Short})
			}
			for _, form := range forms {
				words := append(append([]string{}, path...), form...)
				if val != "" {
					words = append(words, val)
				}
				inv, err := Parse(words)
				if err != nil {
					t.Fatalf("%q: %v", words, err)
				}
				got, err := filterOf(env, inv)
				if err != nil {
					t.Fatalf("%q: %v", words, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%q gives %+v, want %+v", words, got, want)
				}
				back, err := queue.ParseFilter(got.String())
				if err != nil || !reflect.DeepEqual(back, got) {
					t.Errorf("%q: audit text %q reads back as %+v, %v", words, got.String(), back, err)
				}
			}
		}
	}
	// A sender, recipient or domain given twice means either; the audit
	// text says both.
	inv, err := Parse([]string{"queue", "cancel", "-s", "a@x.example", "--sender", "b@y.example", "-d", "gmail.com", "-d", "gmx.de"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := filterOf(env, inv)
	if want := "sender=a@x.example sender=b@y.example domain=gmail.com domain=gmx.de"; err != nil || got.String() != want {
		t.Errorf("two senders and two domains: %q, %v, want %q", got.String(), err, want)
	}
	// A bad value names the flag and what was wrong.
	inv, err = Parse([]string{"queue", "list", "--created-before", "tomorrow"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filterOf(env, inv); err == nil || !strings.HasPrefix(err.Error(), "invalid value 'tomorrow' for '--created-before': invalid time") {
		t.Errorf("bad time: %v", err)
	}
}

func findCommand(t *testing.T, path []string) *Command {
	for _, c := range Commands() {
		if reflect.DeepEqual(c.Path, path) {
			return c
		}
	}
	t.Fatalf("no command %q", path)
	return nil
}
