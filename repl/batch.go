package repl

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
)

// BatchReader is the LineReader of batch mode: lines from a file, piped
// standard input or a -e argument, read through a bufio.Reader.
type BatchReader struct {
	r     *bufio.Reader
	name  string      // "commands.txt", "stdin", "-e #2"
	line  int         // number of the last line returned
	short bool        // name the first line by name alone ("-e #2", not "-e #2:1")
	err   error       // sticky end of input
	ended atomic.Bool // EndInput was called
}

// NewBatchReader reads commands from r; name labels lines in error messages
// ("commands.txt" gives "commands.txt:7").
func NewBatchReader(r io.Reader, name string) *BatchReader {
	return &BatchReader{r: bufio.NewReader(r), name: name}
}

// ReadLine returns the next line without its line ending; the prompt is
// ignored. It returns io.EOF at the end of the input.
func (b *BatchReader) ReadLine(prompt string) (string, error) {
	if b.ended.Load() {
		return "", io.EOF
	}
	if b.err != nil {
		return "", b.err
	}
	s, err := b.r.ReadString('\n')
	if err != nil {
		b.err = err
		if s == "" {
			return "", err
		}
	}
	b.line++
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}

// EndInput makes the next ReadLine return io.EOF: a shell reading a file ends
// this way on a terminating signal. It may be called from another goroutine.
func (b *BatchReader) EndInput() { b.ended.Store(true) }

// Source names the last line read: "commands.txt:7".
func (b *BatchReader) Source() string {
	if b.short && b.line <= 1 {
		return b.name
	}
	return fmt.Sprintf("%s:%d", b.name, b.line)
}

// multiReader reads its readers one after the other.
type multiReader struct {
	rs []LineReader
}

// MultiReader chains line readers: each is read to its end before the next.
func MultiReader(rs ...LineReader) LineReader { return &multiReader{rs: rs} }

func (m *multiReader) ReadLine(prompt string) (string, error) {
	for len(m.rs) > 0 {
		s, err := m.rs[0].ReadLine(prompt)
		if err == io.EOF {
			if len(m.rs) == 1 {
				return "", io.EOF
			}
			m.rs = m.rs[1:]
			continue
		}
		return s, err
	}
	return "", io.EOF
}

func (m *multiReader) Source() string {
	if len(m.rs) == 0 {
		return ""
	}
	return m.rs[0].Source()
}

// ExprReader reads the commands given with -e, in order; the Nth is named
// "-e #N" in error messages (a line L of a multi-line one "-e #N:L").
func ExprReader(exprs []string) LineReader {
	rs := make([]LineReader, len(exprs))
	for i, e := range exprs {
		b := NewBatchReader(strings.NewReader(e), fmt.Sprintf("-e #%d", i+1))
		b.short = !strings.Contains(strings.TrimSuffix(e, "\n"), "\n")
		rs[i] = b
	}
	return MultiReader(rs...)
}
