package lua

// Lua's patterns (string.find, match, gmatch, gsub), matched by mqsh's own
// matcher rather than gopher-lua's pm package, which cannot be interrupted: a
// pattern such as ".-.-.-.-.-b" against a long string backtracks for longer
// than the age of the universe, and pm would hold the Lua thread (and a core)
// all that time, deaf to the time limit and to Ctrl-C. This matcher follows
// the grammar and the backtracking of Lua 5.1's own (lstrlib.c), counts its
// steps, and every patternCheckEvery steps asks whether the script's context
// has ended; if it has, it raises and the script stops at once.
//
// The grammar: single characters; . (any); %a %c %d %l %p %s %u %w %x %z and
// their upper-case complements (ASCII classes, as in the C locale); %x for any
// other punctuation x (x itself); sets [...] and [^...] with ranges and
// classes; the quantifiers * + - ?; captures (...) and position captures ();
// back-references %1-%9; %bxy (balanced); %f[set] (frontier); ^ and $ as
// anchors at the pattern's ends.

import (
	glua "github.com/yuin/gopher-lua"
)

// Bounds of a match.
const (
	maxPatternCaptures = 32   // captures in one pattern, as in Lua
	maxPatternDepth    = 200  // nested pattern items being matched; deeper raises "pattern too complex" (Lua 5.2's limit)
	patternCheckEvery  = 1024 // steps between two looks at the script's context
)

// Capture lengths with a meaning of their own.
const (
	capUnfinished = -1 // the capture's ")" has not been matched yet
	capPosition   = -2 // a position capture, ()
)

type patCapture struct{ start, len int }

// patMatcher matches one pattern against one subject.
type patMatcher struct {
	L     *glua.LState // raises errors, and its context stops a long match
	what  string       // the function, for errors: "string.find"
	src   string
	pat   string
	level int // captures open or closed so far
	caps  [maxPatternCaptures]patCapture
	depth int // nested calls of match
	steps int
}

func newPatMatcher(L *glua.LState, what, src, pat string) *patMatcher {
	return &patMatcher{L: L, what: what, src: src, pat: pat}
}

func (m *patMatcher) fail(msg string) {
	m.L.RaiseError("%s: %s", m.what, msg)
}

// step counts one step of work and, every so often, stops the match if the
// script's time is up or it was interrupted.
func (m *patMatcher) step() {
	m.steps++
	if m.steps%patternCheckEvery != 0 {
		return
	}
	if ctx := m.L.Context(); ctx != nil && ctx.Err() != nil {
		m.L.RaiseError("%s: stopped: %v", m.what, ctx.Err())
	}
}

// at tries to match the whole pattern (from p, past any ^) at position s of
// the subject: it returns where the match ends, or -1.
func (m *patMatcher) at(s, p int) int {
	m.level, m.depth = 0, 0
	return m.match(s, p)
}

func (m *patMatcher) match(s, p int) int {
	m.depth++
	if m.depth > maxPatternDepth {
		m.fail("pattern too complex")
	}
	e := m.doMatch(s, p)
	m.depth--
	return e
}

func (m *patMatcher) doMatch(s, p int) int {
	pat, src := m.pat, m.src
	for {
		m.step()
		if p == len(pat) {
			return s
		}
		switch pat[p] {
		case '(':
			if p+1 < len(pat) && pat[p+1] == ')' {
				return m.startCapture(s, p+2, capPosition)
			}
			return m.startCapture(s, p+1, capUnfinished)
		case ')':
			return m.endCapture(s, p+1)
		case '$':
			if p+1 == len(pat) {
				if s == len(src) {
					return s
				}
				return -1
			}
		case '%':
			if p+1 < len(pat) {
				switch c := pat[p+1]; {
				case c == 'b':
					if s = m.balance(s, p+2); s == -1 {
						return -1
					}
					p += 4
					continue
				case c == 'f':
					p += 2
					if p >= len(pat) || pat[p] != '[' {
						m.fail("missing '[' after '%f' in pattern")
					}
					ep := m.classEnd(p)
					var prev, cur byte
					if s > 0 {
						prev = src[s-1]
					}
					if s < len(src) {
						cur = src[s]
					}
					if m.inSet(prev, p, ep-1) || !m.inSet(cur, p, ep-1) {
						return -1
					}
					p = ep
					continue
				case c >= '0' && c <= '9':
					if s = m.backReference(s, c); s == -1 {
						return -1
					}
					p += 2
					continue
				}
			}
		}
		// A single-character class, perhaps with a quantifier.
		ep := m.classEnd(p)
		ok := s < len(src) && m.single(src[s], p, ep)
		if ep < len(pat) {
			switch pat[ep] {
			case '?':
				if ok {
					if e := m.match(s+1, ep+1); e != -1 {
						return e
					}
				}
				p = ep + 1
				continue
			case '*':
				return m.longest(s, p, ep)
			case '+':
				if !ok {
					return -1
				}
				return m.longest(s+1, p, ep)
			case '-':
				return m.shortest(s, p, ep)
			}
		}
		if !ok {
			return -1
		}
		s++
		p = ep
	}
}

// longest matches as many characters of the class at p as it can, then gives
// them back one by one until the rest of the pattern (after ep) matches.
func (m *patMatcher) longest(s, p, ep int) int {
	n := 0
	for s+n < len(m.src) && m.single(m.src[s+n], p, ep) {
		m.step()
		n++
	}
	for ; n >= 0; n-- {
		if e := m.match(s+n, ep+1); e != -1 {
			return e
		}
	}
	return -1
}

// shortest matches as few characters of the class at p as it can.
func (m *patMatcher) shortest(s, p, ep int) int {
	for {
		if e := m.match(s, ep+1); e != -1 {
			return e
		}
		if s < len(m.src) && m.single(m.src[s], p, ep) {
			s++
			continue
		}
		return -1
	}
}

func (m *patMatcher) startCapture(s, p, what int) int {
	if m.level >= maxPatternCaptures {
		m.fail("too many captures")
	}
	m.caps[m.level] = patCapture{start: s, len: what}
	m.level++
	e := m.match(s, p)
	if e == -1 {
		m.level--
	}
	return e
}

func (m *patMatcher) endCapture(s, p int) int {
	l := -1
	for i := m.level - 1; i >= 0; i-- {
		if m.caps[i].len == capUnfinished {
			l = i
			break
		}
	}
	if l < 0 {
		m.fail("invalid pattern capture")
	}
	m.caps[l].len = s - m.caps[l].start
	e := m.match(s, p)
	if e == -1 {
		m.caps[l].len = capUnfinished
	}
	return e
}

// balance matches %bxy (x and y at p, p+1) at s.
func (m *patMatcher) balance(s, p int) int {
	if p+1 >= len(m.pat) {
		m.fail("malformed pattern (missing arguments to '%b')")
	}
	if s >= len(m.src) || m.src[s] != m.pat[p] {
		return -1
	}
	open, close := m.pat[p], m.pat[p+1]
	depth := 1
	for i := s + 1; i < len(m.src); i++ {
		m.step()
		switch m.src[i] {
		case close:
			if depth--; depth == 0 {
				return i + 1
			}
		case open:
			depth++
		}
	}
	return -1
}

// backReference matches %1-%9 at s: the same text as the capture.
func (m *patMatcher) backReference(s int, c byte) int {
	l := int(c - '1')
	if l < 0 || l >= m.level || m.caps[l].len < 0 {
		m.fail("invalid capture index")
	}
	text := m.src[m.caps[l].start : m.caps[l].start+m.caps[l].len]
	if len(m.src)-s >= len(text) && m.src[s:s+len(text)] == text {
		return s + len(text)
	}
	return -1
}

// classEnd returns where the single-character class at p ends.
func (m *patMatcher) classEnd(p int) int {
	pat := m.pat
	c := pat[p]
	p++
	switch c {
	case '%':
		if p >= len(pat) {
			m.fail("malformed pattern (ends with '%')")
		}
		return p + 1
	case '[':
		if p < len(pat) && pat[p] == '^' {
			p++
		}
		// The first character of a set is never its end: []] is a set of ].
		for {
			if p >= len(pat) {
				m.fail("malformed pattern (missing ']')")
			}
			c := pat[p]
			p++
			if c == '%' {
				if p >= len(pat) {
					m.fail("malformed pattern (missing ']')")
				}
				p++
			}
			if p < len(pat) && pat[p] == ']' {
				return p + 1
			}
		}
	}
	return p
}

// single reports whether c matches the class from p to ep.
func (m *patMatcher) single(c byte, p, ep int) bool {
	switch m.pat[p] {
	case '.':
		return true
	case '%':
		return classMatches(c, m.pat[p+1])
	case '[':
		return m.inSet(c, p, ep-1)
	}
	return m.pat[p] == c
}

// inSet reports whether c is in the set from p ([) to end (]).
func (m *patMatcher) inSet(c byte, p, end int) bool {
	pat := m.pat
	in := true
	p++
	if pat[p] == '^' {
		in = false
		p++
	}
	for ; p < end; p++ {
		switch {
		case pat[p] == '%' && p+1 < end:
			p++
			if classMatches(c, pat[p]) {
				return in
			}
		case pat[p+1] == '-' && p+2 < end:
			if pat[p] <= c && c <= pat[p+2] {
				return in
			}
			p += 2
		case pat[p] == c:
			return in
		}
	}
	return !in
}

// classMatches reports whether c is in the class %cl.
func classMatches(c, cl byte) bool {
	var in bool
	switch cl | 0x20 {
	case 'a':
		in = isAlpha(c)
	case 'c':
		in = c < 32 || c == 127
	case 'd':
		in = '0' <= c && c <= '9'
	case 'l':
		in = 'a' <= c && c <= 'z'
	case 'p':
		in = isPunct(c)
	case 's':
		in = c == ' ' || '\t' <= c && c <= '\r'
	case 'u':
		in = 'A' <= c && c <= 'Z'
	case 'w':
		in = isAlpha(c) || '0' <= c && c <= '9'
	case 'x':
		in = '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
	case 'z':
		in = c == 0
	default:
		return cl == c
	}
	if 'A' <= cl && cl <= 'Z' {
		return !in
	}
	return in
}

func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

func isPunct(c byte) bool {
	return '!' <= c && c <= '~' && !isAlpha(c) && !('0' <= c && c <= '9')
}

// capture is capture i of the last match (start to end) as a Lua value: a
// string, or the 1-based position of a position capture. With no captures,
// capture 0 is the whole match.
func (m *patMatcher) capture(i, start, end int) glua.LValue {
	if i >= m.level {
		if i != 0 {
			m.fail("invalid capture index")
		}
		return glua.LString(m.src[start:end])
	}
	switch c := m.caps[i]; c.len {
	case capUnfinished:
		m.fail("unfinished capture")
	case capPosition:
		return glua.LNumber(c.start + 1)
	default:
		return glua.LString(m.src[c.start : c.start+c.len])
	}
	return glua.LNil
}

// pushCaptures pushes the captures of the last match, or the whole match
// when the pattern has none (and whole is set), and returns how many.
func (m *patMatcher) pushCaptures(start, end int, whole bool) int {
	n := m.level
	if n == 0 && whole {
		n = 1
	}
	for i := 0; i < n; i++ {
		m.L.Push(m.capture(i, start, end))
	}
	return n
}

// anchored reports whether the pattern starts with ^, and where the rest
// of it starts.
func (m *patMatcher) anchored() (bool, int) {
	if len(m.pat) > 0 && m.pat[0] == '^' {
		return true, 1
	}
	return false, 0
}
