package repl

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestHistoryPath(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "default", env: map[string]string{"HOME": "/home/ann"}, want: "/home/ann/.local/state/mqsh/history"},
		{name: "XDG_STATE_HOME", env: map[string]string{"HOME": "/home/ann", "XDG_STATE_HOME": "/var/state"}, want: "/var/state/mqsh/history"},
		{name: "relative XDG_STATE_HOME is ignored", env: map[string]string{"HOME": "/home/ann", "XDG_STATE_HOME": "state"}, want: "/home/ann/.local/state/mqsh/history"},
		{name: "MQSH_HISTFILE", env: map[string]string{"HOME": "/home/ann", "MQSH_HISTFILE": "/tmp/h"}, want: "/tmp/h"},
		{name: "MQSH_HISTFILE empty", env: map[string]string{"HOME": "/home/ann", "MQSH_HISTFILE": ""}, want: ""},
		{name: "MQSH_NOHISTORY", env: map[string]string{"HOME": "/home/ann", "MQSH_HISTFILE": "/tmp/h", "MQSH_NOHISTORY": "1"}, want: ""},
		{name: "MQSH_NOHISTORY=0", env: map[string]string{"HOME": "/home/ann", "MQSH_NOHISTORY": "0"}, want: "/home/ann/.local/state/mqsh/history"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HistoryPath(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if err != nil || got != tt.want {
				t.Errorf("HistoryPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestPrepareHistoryFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b", "history")
	if err := prepareHistoryFile(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(p))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("history folder mode %v, want 0700", di.Mode().Perm())
	}
	// A folder in the way is a clear error.
	if err := prepareHistoryFile(filepath.Dir(p)); err == nil {
		t.Error("prepareHistoryFile on a folder succeeded")
	}
}

func TestShellPrompt(t *testing.T) {
	for in, want := range map[string]string{
		"/var/spool/mqsh/queue.db":   "mqsh queue.db> ",
		"queue.db":                   "mqsh queue.db> ",
		"sqlite:///tmp/q.db?mode=ro": "mqsh q.db> ",
		"sqlite:q.db":                "mqsh q.db> ",
		"":                           "mqsh> ",
	} {
		if got := ShellPrompt(in); got != want {
			t.Errorf("ShellPrompt(%q) = %q, want %q", in, got, want)
		}
	}
}

// A history keeps an entry once however often it is repeated in a row, adds
// it to its file, and cuts a file grown past the limit when it is opened.
func TestHistoryStore(t *testing.T) {
	p := filepath.Join(t.TempDir(), "history")
	var old []byte
	for i := 0; i < HistoryLimit+3; i++ {
		old = append(old, []byte("list -p "+strconv.Itoa(i)+"\n")...)
	}
	if err := os.WriteFile(p, old, 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := openHistory(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.entries) != HistoryLimit || h.entries[0] != "list -p 3" {
		t.Fatalf("%d entries from %q, want %d from list -p 3", len(h.entries), h.entries[0], HistoryLimit)
	}
	for _, e := range []string{"a", " a ", "", "b", "a", "a"} {
		if _, err := h.add(e); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if got := strings.Join(lines[len(lines)-3:], ","); got != "a,b,a" || len(lines) != HistoryLimit+3 {
		t.Errorf("file ends %q with %d lines; want a,b,a after the %d kept", got, len(lines), HistoryLimit)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after the cut, want 0600", fi.Mode().Perm())
	}
	if luaHistoryPath(p) != filepath.Join(filepath.Dir(p), "lua_history") {
		t.Errorf("luaHistoryPath = %q", luaHistoryPath(p))
	}
}
