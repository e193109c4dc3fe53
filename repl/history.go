package repl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables that place or turn off the shell history.
const (
	EnvHistFile  = "MQSH_HISTFILE"  // the history file; set and empty = no history file
	EnvNoHistory = "MQSH_NOHISTORY" // any value but "" or "0" = no history file
)

// HistoryLimit is how many lines the history file keeps.
const HistoryLimit = 1000

// HistoryPath says where the shell keeps the lines typed at its prompt across
// sessions, from the environment (lookup is os.LookupEnv in the program):
//
//   - MQSH_NOHISTORY set to anything but "" or "0": no history file;
//   - MQSH_HISTFILE set: that file, or no history file when it is empty;
//   - otherwise $XDG_STATE_HOME/mqsh/history, or ~/.local/state/mqsh/history.
//
// It returns "" when history is off. Lines typed in a session are still
// recalled (Up, Ctrl-R) within that session.
func HistoryPath(lookup func(string) (string, bool)) (string, error) {
	if v, ok := lookup(EnvNoHistory); ok && v != "" && v != "0" {
		return "", nil
	}
	if v, ok := lookup(EnvHistFile); ok {
		return v, nil
	}
	if v, ok := lookup("XDG_STATE_HOME"); ok && filepath.IsAbs(v) {
		return filepath.Join(v, "mqsh", "history"), nil
	}
	home, ok := lookup("HOME")
	if !ok || home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the history file: %w (set %s, or %s=1 to keep no history)", err, EnvHistFile, EnvNoHistory)
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "mqsh", "history"), nil
}

// prepareHistoryFile makes sure the history file can be written: its folder
// exists (private to the user) and the file exists, readable by the user only,
// since commands name addresses.
func prepareHistoryFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create the history folder: %w (set %s to another file, or %s=1)", err, EnvHistFile, EnvNoHistory)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open the history file: %w (set %s to another file, or %s=1)", err, EnvHistFile, EnvNoHistory)
	}
	return f.Close()
}

// historyLine is what the history keeps of a typed line: the line without
// surrounding blanks; "" means keep nothing. An entry is one line.
func historyLine(line string) string {
	return strings.TrimSpace(line)
}

// luaHistoryPath is where the Lua prompt's chunks are kept, beside the
// shell's history file: ~/.local/state/mqsh/lua_history.
func luaHistoryPath(hist string) string {
	if hist == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(hist), "lua_"+filepath.Base(hist))
}

// history is what one prompt remembers: the newest HistoryLimit entries, in
// memory and, when path is set, in a file each entry is appended to.
type history struct {
	path    string
	entries []string
}

// openHistory reads the entries of the history file path ("" = none) and cuts
// the file to the newest HistoryLimit, keeping its mode.
func openHistory(path string) (*history, error) {
	h := &history{path: path}
	if path == "" {
		return h, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("read the history file: %w", err)
	}
	total := 0
	for _, line := range strings.Split(string(b), "\n") {
		if line = historyLine(line); line != "" {
			h.entries = append(h.entries, line)
			total++
		}
	}
	if total > HistoryLimit {
		h.entries = h.entries[total-HistoryLimit:]
		if err := h.rewrite(); err != nil {
			return h, err
		}
	}
	return h, nil
}

// rewrite replaces the file with the entries in memory.
func (h *history) rewrite() error {
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(h.path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp := h.path + ".tmp"
	text := strings.Join(h.entries, "\n") + "\n"
	if err := os.WriteFile(tmp, []byte(text), mode); err != nil {
		return fmt.Errorf("cut the history file: %w", err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fmt.Errorf("cut the history file: %w", err)
	}
	if err := os.Rename(tmp, h.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cut the history file: %w", err)
	}
	return nil
}

// add remembers an entry, unless it is blank or repeats the one before, and
// appends it to the file (created private to the user). It reports whether
// the entry was added.
func (h *history) add(entry string) (bool, error) {
	entry = historyLine(entry)
	if entry == "" || len(h.entries) > 0 && h.entries[len(h.entries)-1] == entry {
		return false, nil
	}
	h.entries = append(h.entries, entry)
	if len(h.entries) > HistoryLimit {
		h.entries = h.entries[len(h.entries)-HistoryLimit:]
	}
	if h.path == "" {
		return true, nil
	}
	f, err := os.OpenFile(h.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return true, fmt.Errorf("keep history: %w", err)
	}
	_, err = f.WriteString(entry + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return true, fmt.Errorf("keep history: %w", err)
	}
	return true, nil
}
