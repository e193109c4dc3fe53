package lua

import "strings"

// OneLine returns a chunk typed over several lines as one line that means the
// same, for the Lua prompt's history: comments are dropped and each run of
// blanks outside strings becomes one space, while strings are kept as they
// are. A chunk already on one line is returned as typed (trimmed). ok is false
// when the chunk cannot be written on one line: a long string or an escaped
// line break holds a line break of its own.
func OneLine(code string) (line string, ok bool) {
	code = strings.TrimSpace(code)
	if !strings.ContainsAny(code, "\r\n") {
		return code, true
	}
	sc := nestScan{src: code, line: 1}
	var b strings.Builder
	blank := false
	for sc.i < len(code) {
		c := code[sc.i]
		start := sc.i
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			sc.i++
			blank = true
			continue
		case c == '-' && sc.peek(1) == '-':
			sc.i += 2
			if n := sc.longBracket(); n >= 0 {
				sc.skipLong(n)
			} else {
				for sc.i < len(code) && code[sc.i] != '\n' {
					sc.i++
				}
			}
			blank = true
			continue
		case c == '"' || c == '\'':
			sc.skipString(c)
		case c == '[':
			// longBracket leaves the position alone when no [[ or [==[
			// starts here.
			if n := sc.longBracket(); n >= 0 {
				sc.skipLong(n)
			} else {
				sc.i++
			}
		default:
			sc.i++
		}
		if text := code[start:sc.i]; strings.ContainsAny(text, "\r\n") {
			return "", false
		} else {
			if blank && b.Len() > 0 {
				b.WriteByte(' ')
			}
			blank = false
			b.WriteString(text)
		}
	}
	return b.String(), true
}
