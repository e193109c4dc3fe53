package lua

// string.find, string.match, string.gmatch and string.gsub over mqsh's
// interruptible matcher (pattern.go), argument for argument as in Lua 5.1.
// gsub builds its result within the string limit and lets the memory watch
// see it grow; gmatch finds one match per call of its iterator.

import (
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// patternSpecials are the characters that make a pattern more than plain text.
const patternSpecials = "^$*+?.([%-"

// startIndex turns find's and match's init argument (1-based, negative from
// the end) into a 0-based index within str.
func startIndex(init, n int) int {
	if init < 0 {
		init += n + 1
	}
	return min(max(init-1, 0), n)
}

// strFind is string.find(s, pattern [, init [, plain]]).
func strFind(L *glua.LState) int { return findAux(L, true) }

// strMatch is string.match(s, pattern [, init]).
func strMatch(L *glua.LState) int { return findAux(L, false) }

func findAux(L *glua.LState, find bool) int {
	str := L.CheckString(1)
	pat := L.CheckString(2)
	init := startIndex(L.OptInt(3, 1), len(str))
	if find && (glua.LVAsBool(L.Get(4)) || !strings.ContainsAny(pat, patternSpecials)) {
		i := strings.Index(str[init:], pat)
		if i < 0 {
			L.Push(glua.LNil)
			return 1
		}
		L.Push(glua.LNumber(init + i + 1))
		L.Push(glua.LNumber(init + i + len(pat)))
		return 2
	}
	what := "string.match"
	if find {
		what = "string.find"
	}
	m := newPatMatcher(L, what, str, pat)
	anchor, p := m.anchored()
	for s := init; ; s++ {
		if e := m.at(s, p); e != -1 {
			if find {
				L.Push(glua.LNumber(s + 1))
				L.Push(glua.LNumber(e))
				return m.pushCaptures(s, e, false) + 2
			}
			return m.pushCaptures(s, e, true)
		}
		if anchor || s >= len(str) {
			break
		}
	}
	L.Push(glua.LNil)
	return 1
}

// strGmatch is string.gmatch(s, pattern): an iterator over the matches, found
// one per call. A pattern starting with ^ matches at the start only.
func strGmatch(L *glua.LState) int {
	str := L.CheckString(1)
	m := newPatMatcher(L, "string.gmatch", str, L.CheckString(2))
	anchor, p := m.anchored()
	next := 0
	L.Push(L.NewFunction(func(L *glua.LState) int {
		m.L = L
		for s := next; s <= len(str); s++ {
			if e := m.at(s, p); e != -1 {
				next = e
				if e == s {
					next++ // an empty match: look further on next time
				}
				if anchor {
					next = len(str) + 1
				}
				return m.pushCaptures(s, e, true)
			}
			if anchor {
				break
			}
		}
		next = len(str) + 1
		return 0
	}))
	return 1
}

// gsubGrowEvery is how many replacements gsub makes between two reports of
// its result's growth to the memory watch.
const gsubGrowEvery = 1024

// strGsub is string.gsub(s, pattern, repl [, n]), built within the string
// limit.
func (s *Session) strGsub(L *glua.LState) int {
	str := L.CheckString(1)
	pat := L.CheckString(2)
	L.CheckTypes(3, glua.LTString, glua.LTTable, glua.LTFunction)
	repl := L.Get(3)
	maxN := L.OptInt(4, len(str)+1)
	strLimit := s.strLimit
	var b strings.Builder
	add := func(text string) {
		if int64(b.Len())+int64(len(text)) > strLimit {
			L.RaiseError("string.gsub: the result would be over %s; the limit is %s per string", byteSize(strLimit), byteSize(strLimit))
		}
		b.WriteString(text)
	}
	m := newPatMatcher(L, "string.gsub", str, pat)
	anchor, p := m.anchored()
	n, built, at := 0, 0, 0
	for n < maxN {
		e := m.at(at, p)
		if e != -1 {
			n++
			s.gsubValue(m, repl, at, e, add, strLimit-int64(b.Len()))
			if n%gsubGrowEvery == 0 {
				// Let the memory watch see the result grow as it is built.
				if s.mem != nil && s.mem.grow(int64(b.Len()-built)) {
					L.RaiseError("string.gsub: %v", ErrMemory)
				}
				built = b.Len()
			}
		}
		if e > at {
			at = e
		} else if at < len(str) {
			add(str[at : at+1])
			at++
		} else {
			break
		}
		if anchor {
			break
		}
	}
	add(str[at:])
	if n == 0 {
		L.Push(glua.LString(str))
		L.Push(glua.LNumber(0))
		return 2
	}
	L.Push(glua.LString(b.String()))
	L.Push(glua.LNumber(n))
	return 2
}

// gsubValue adds the replacement of the match from start to end.
func (s *Session) gsubValue(m *patMatcher, repl glua.LValue, start, end int, add func(string), room int64) {
	L := m.L
	whole := m.src[start:end]
	var v glua.LValue
	switch r := repl.(type) {
	case glua.LString:
		add(gsubExpand(m, string(r), start, end, room))
		return
	case *glua.LTable:
		v = L.GetTable(r, m.capture(0, start, end))
	case *glua.LFunction:
		L.Push(r)
		n := m.pushCaptures(start, end, true)
		L.Call(n, 1)
		v = L.Get(-1)
		L.Pop(1)
	}
	switch {
	case !glua.LVAsBool(v):
		add(whole) // nil or false: keep the match
	case glua.LVCanConvToString(v):
		add(glua.LVAsString(v))
	default:
		L.RaiseError("string.gsub: invalid replacement value (a %s)", v.Type())
	}
}

// gsubExpand is a string replacement for one match: %0 is the match, %1-%9
// its captures, and % before anything else stands for that character (%%
// is %). It stops rather than build more than room bytes (add reports it).
func gsubExpand(m *patMatcher, repl string, start, end int, room int64) string {
	if strings.IndexByte(repl, '%') < 0 {
		return repl
	}
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		if int64(b.Len()) > room {
			break
		}
		c := repl[i]
		if c != '%' || i+1 == len(repl) {
			b.WriteByte(c)
			continue
		}
		i++
		switch d := repl[i]; {
		case d == '0':
			b.WriteString(m.src[start:end])
		case '1' <= d && d <= '9':
			b.WriteString(glua.LVAsString(m.capture(int(d-'1'), start, end)))
		default:
			b.WriteByte(d)
		}
	}
	return b.String()
}
