package repl

import (
	"io"
	"os"

	"github.com/chzyer/readline"
	"github.com/mattn/go-isatty"
)

// StdStreams are the process's streams as commands get them: what the
// terminal behind stdout allows (paging, colour unless NO_COLOR or
// TERM=dumb, its width) and, when the keyboard is a terminal too, a key
// reader for the pager.
func StdStreams(stdin *os.File, stdout, stderr io.Writer, getenv func(string) string) Streams {
	s := Streams{Stdin: stdin, Stdout: stdout, Stderr: stderr, ReadSecret: TerminalReadSecret(stdin, stderr)}
	if f, ok := stdout.(*os.File); ok && IsTerminal(f) {
		s.Terminal = true
		s.Color = getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
		s.Width = TerminalWidth(f)
		s.Height = TerminalHeight(f)
		if ef, ok := stderr.(*os.File); ok && IsTerminal(ef) {
			s.StderrTerminal = true
		}
		if IsTerminal(stdin) {
			s.ReadKey = TerminalReadKey(stdin)
		}
	}
	return s
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	return f != nil && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

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

// TerminalReadSecret returns a ReadSecret for Streams that writes its prompt
// to w and reads a line from the terminal f without echo; nil when f is not
// a terminal.
func TerminalReadSecret(f *os.File, w io.Writer) func(prompt string) (string, error) {
	if !IsTerminal(f) {
		return nil
	}
	fd := int(f.Fd())
	return func(prompt string) (string, error) {
		io.WriteString(w, prompt)
		b, err := readline.ReadPassword(fd)
		io.WriteString(w, "\n")
		return string(b), err
	}
}

// TerminalWidth returns a Width for Streams: the columns of the terminal f,
// read each time (the window may be resized); nil when f is not a terminal.
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

// TerminalHeight returns a Height for Streams: the rows of the terminal f,
// read each time; nil when f is not a terminal.
func TerminalHeight(f *os.File) func() int {
	fd := int(f.Fd())
	if !readline.IsTerminal(fd) {
		return nil
	}
	return func() int {
		_, h, err := readline.GetSize(fd)
		if err != nil {
			return 0
		}
		return h
	}
}
