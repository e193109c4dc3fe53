package repl

import (
	"errors"
	"strings"
)

// ErrIncomplete is returned by SplitWords when the line ends inside quotes or
// after a backslash: the caller may read another line, join them with a
// newline and split again.
var ErrIncomplete = errors.New("unterminated quote or trailing backslash")

// SplitWords splits a command line into words as a POSIX shell does, without
// expansions: blanks separate words; 'single quotes' keep everything literally;
// "double quotes" keep everything but \\, \", \$, \` and backslash-newline; a
// backslash outside quotes takes the next character literally (backslash-newline
// joins lines); a # at the start of a word comments out the rest of the line.
// Variables, globs and redirections are not interpreted.
func SplitWords(line string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool // cur holds a word, perhaps empty ("")
	)
	end := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			end()
		case c == '#' && !inWord:
			// A comment runs to the end of the line; words may go on after it.
			for i < len(line) && line[i] != '\n' {
				i++
			}
		case c == '\\':
			if i+1 >= len(line) {
				return words, ErrIncomplete
			}
			i++
			if line[i] == '\n' {
				continue // line continuation
			}
			inWord = true
			cur.WriteByte(line[i])
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return words, ErrIncomplete
			}
			inWord = true
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(line); i++ {
				d := line[i]
				if d == '"' {
					closed = true
					break
				}
				if d == '\\' && i+1 < len(line) {
					switch line[i+1] {
					case '\\', '"', '$', '`':
						i++
						cur.WriteByte(line[i])
						continue
					case '\n':
						i++
						continue
					}
				}
				cur.WriteByte(d)
			}
			if !closed {
				return words, ErrIncomplete
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	end()
	return words, nil
}

// cutWord splits off the first word of line as SplitWords reads it, and
// returns the text after it untouched. ok is false when line holds no whole
// word (it is blank, a comment, or ends inside quotes).
func cutWord(line string) (word, rest string, ok bool) {
	s := strings.TrimLeft(line, " \t\r\n")
	end := 0
	for end < len(s) && strings.IndexByte(" \t\r\n", s[end]) < 0 {
		switch s[end] {
		case '\\':
			end++
		case '\'':
			j := strings.IndexByte(s[end+1:], '\'')
			if j < 0 {
				return "", "", false
			}
			end += j + 1
		case '"':
			for end++; end < len(s) && s[end] != '"'; end++ {
				if s[end] == '\\' {
					end++
				}
			}
		}
		end++
	}
	end = min(end, len(s))
	words, err := SplitWords(s[:end])
	if err != nil || len(words) != 1 {
		return "", "", false
	}
	return words[0], s[end:], true
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

// QuoteWord quotes a word so that SplitWords reads it back unchanged: plain
// words stay as they are, anything else goes in single quotes.
func QuoteWord(w string) string {
	if w == "" {
		return "''"
	}
	plain := true
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-_.,:/@+=%<>", c) >= 0) || (i == 0 && c == '#') {
			plain = false
			break
		}
	}
	if plain {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// JoinWords quotes and joins words into one command line.
func JoinWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = QuoteWord(w)
	}
	return strings.Join(q, " ")
}
