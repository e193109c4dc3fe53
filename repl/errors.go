package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// plainError is a failure whose message is printed exactly as written, without
// the "mqsh: " prefix, as stalwart-cli prints it (`No messages were found.`).
type plainError struct{ msg string }

func (e *plainError) Error() string { return e.msg }

func plainf(format string, a ...any) error { return &plainError{msg: fmt.Sprintf(format, a...)} }

// reportedError is a failure the command has already described on stderr. It
// is not printed again, except in batch mode, where the line is named.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// errNoMessages is stalwart-cli's answer when retry or cancel selects nothing.
var errNoMessages = &plainError{msg: "No messages were found."}

// ReportError writes err to w as the user should see it. source names the
// line that failed in batch mode ("commands.txt:7"), "" otherwise. In the
// shell (interactive) messages start with "error: " rather than "mqsh: ".
func ReportError(w io.Writer, source string, err error, interactive bool) {
	if err == nil {
		return
	}
	prefix := "mqsh: "
	if interactive {
		prefix = "error: "
	}
	if source != "" {
		prefix = "mqsh: " + source + ": "
	}
	var pe *plainError
	var re *reportedError
	var ue *UsageError
	msg := err.Error()
	if interactive && errors.As(err, &ue) {
		msg = ue.shellText()
	}
	switch {
	case errors.As(err, &re):
		if source == "" {
			return
		}
	case errors.Is(err, context.Canceled):
		msg = "interrupted"
	case errors.As(err, &pe) && source == "":
		prefix = ""
	}
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Fprint(w, prefix+msg)
}
