package repl

import (
	"os"

	"github.com/chzyer/readline"
)

// TerminalReadKey returns a ReadKey for the pager that reads one key from the
// terminal f in raw mode; nil when f is not a terminal. Ctrl-C gives
// ErrInterrupt.
func TerminalReadKey(f *os.File) func() (rune, error) {
	fd := int(f.Fd())
	if !readline.IsTerminal(fd) {
		return nil
	}
	return func() (rune, error) {
		state, err := readline.MakeRaw(fd)
		if err != nil {
			return 0, err
		}
		defer readline.Restore(fd, state)
		// One read is one key press: an arrow or function key arrives as a
		// whole escape sequence, which must not count as several presses.
		var b [32]byte
		if _, err := f.Read(b[:]); err != nil {
			return 0, err
		}
		if b[0] == 3 {
			return 0, ErrInterrupt
		}
		return rune(b[0]), nil
	}
}

// TerminalWidth returns a Width for Env: the columns of the terminal f, read
// each time (the window may be resized); nil when f is not a terminal.
func TerminalWidth(f *os.File) func() int {
	fd := int(f.Fd())
	if !readline.IsTerminal(fd) {
		return nil
	}
	return func() int {
		w, _, err := readline.GetSize(fd)
		if err != nil {
			return 0
		}
		return w
	}
}
