package repl

import (
	"errors"
	"strings"
)

// ErrIncomplete is returned by SplitWords when the line ends inside quotes or
// after a backslash: the caller may read another line, join them with a
// newline and split again.
var ErrIncomplete = errors.New("unterminated quote or trailing backslash")

// The one scanner of command lines. SplitWords (the loop), cutWord (the
// raw-tail splitter) and lexLine (the completer) are views of it, so the
// three cannot drift apart on quotes, escapes or comments.
//
// It reads words as a POSIX shell does, without expansions: blanks (space,
// tab, CR, LF) separate words; 'single quotes' keep everything literally;
// "double quotes" keep everything but \\, \", \$, \` and backslash-newline; a
// backslash outside quotes takes the next byte literally (backslash-newline
// joins lines); a # at the start of a word comments out the rest of the line.
// Variables, globs and redirections are not interpreted. It works on bytes, so
// text that is not UTF-8 passes through unchanged.

// token is one word of a line: its text with quotes and escapes removed, and
// where it stands in the line.
type token struct {
	text       string
	start, end int  // the word as typed is line[start:end]
	open       byte // the line ended inside the word: '\'', '"' (an open quote) or '\\' (a trailing backslash); 0 = whole
}

// wordScanner yields the words of a line one at a time.
type wordScanner struct {
	line    string
	pos     int
	comment bool // the line ended inside a comment
}

// next returns the next word; ok is false at the end of the line. A word the
// line ends inside has open set; it is the last.
func (s *wordScanner) next() (t token, ok bool) {
	line := s.line
	// Blanks, comments and line continuations before the word.
	for s.pos < len(line) {
		switch c := line[s.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.pos++
			continue
		case c == '#':
			nl := strings.IndexByte(line[s.pos:], '\n')
			if nl < 0 {
				s.pos, s.comment = len(line), true
				return token{}, false
			}
			s.pos += nl
			continue
		case c == '\\' && s.pos+1 < len(line) && line[s.pos+1] == '\n':
			s.pos += 2
			continue
		}
		break
	}
	if s.pos >= len(line) {
		return token{}, false
	}
	t.start = s.pos
	var b strings.Builder
	i := s.pos
word:
	for i < len(line) {
		c := line[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			break word
		case '\\':
			if i+1 >= len(line) {
				t.open = '\\'
				i++
				break word
			}
			if line[i+1] != '\n' { // backslash-newline joins lines
				b.WriteByte(line[i+1])
			}
			i += 2
		case '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				b.WriteString(line[i+1:])
				t.open, i = '\'', len(line)
				break word
			}
			b.WriteString(line[i+1 : i+1+j])
			i += j + 2
		case '"':
			for i++; ; i++ {
				if i >= len(line) {
					t.open = '"'
					break word
				}
				d := line[i]
				if d == '"' {
					i++
					break
				}
				if d == '\\' && i+1 < len(line) {
					switch line[i+1] {
					case '\\', '"', '$', '`':
						i++
						b.WriteByte(line[i])
						continue
					case '\n':
						i++
						continue
					}
				}
				if d == '\\' && i+1 == len(line) {
					i++ // a backslash that may escape what comes next: not part of the word yet
					t.open = '"'
					break word
				}
				b.WriteByte(d)
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	s.pos = i
	t.end, t.text = i, b.String()
	return t, true
}

// SplitWords splits a command line into words (see wordScanner).
// It returns ErrIncomplete, with the words before, when the line ends inside
// quotes or after a backslash.
func SplitWords(line string) ([]string, error) {
	var words []string
	s := wordScanner{line: line}
	for {
		t, ok := s.next()
		if !ok {
			return words, nil
		}
		if t.open != 0 {
			return words, ErrIncomplete
		}
		words = append(words, t.text)
	}
}

// cutWord splits off the first word of line as SplitWords reads it, and
// returns the text after it untouched. ok is false when line holds no whole
// word (it is blank, a comment, or ends inside quotes).
func cutWord(line string) (word, rest string, ok bool) {
	s := wordScanner{line: line}
	t, ok := s.next()
	if !ok || t.open != 0 {
		return "", "", false
	}
	return t.text, line[t.end:], true
}

// splitRawTail splits a line whose command takes its tail verbatim
// (Command.RawTail): the command word, its leading flags (and their values),
// then "--" and the rest of the line as one word. A rest that is one quoted
// shell word ('print("hi")') is unquoted. ok is false for any other
// line, which SplitWords handles.
func splitRawTail(cmds []*Command, line string) (words []string, ok bool) {
	first, rest, ok := cutWord(line)
	if !ok {
		return nil, false
	}
	cmd, n := Lookup(cmds, []string{first})
	if cmd == nil || n != 1 || !cmd.RawTail {
		return nil, false
	}
	words = []string{first}
	for {
		w, after, ok := cutWord(rest)
		if !ok || !strings.HasPrefix(w, "-") || w == "-" {
			break
		}
		rest = after
		if w == "--" {
			break
		}
		words = append(words, w)
		// A flag that takes a value, given apart from it (--timeout 5s,
		// -t 5s), takes the next word too.
		var f *Flag
		if long, ok := strings.CutPrefix(w, "--"); ok {
			f = findLong(cmd, long)
		} else {
			f = findShort(cmd, w[1:])
		}
		if f != nil && f.Value != "" {
			if v, after, ok := cutWord(rest); ok {
				words, rest = append(words, v), after
			}
		}
	}
	code := strings.TrimSpace(rest)
	if code != "" && (code[0] == '\'' || code[0] == '"') {
		// The code quoted as one word, as a shell user would write it: a
		// chunk that is only a string literal is not Lua anyway.
		if w, err := SplitWords(code); err == nil && len(w) == 1 {
			code = w[0]
		}
	}
	if code != "" {
		words = append(words, "--", code)
	}
	return words, true
}
