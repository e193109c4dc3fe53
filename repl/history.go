package repl

import (
	"fmt"
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
// surrounding blanks; "" means keep nothing.
func historyLine(line string) string {
	return strings.TrimSpace(line)
}
