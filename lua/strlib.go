package lua

// The string functions the sandbox replaces so that no single call can build
// a string past the string limit: the `..` operator (through rewrite.go),
// string.rep, table.concat, string.format and os.date. The pattern functions
// are in strpattern.go.

import (
	"fmt"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// luaConcat is what `a .. b .. c` runs: Lua's concatenation (right to left,
// __concat metamethods for other values), within the string limit.
func (s *Session) luaConcat(L *glua.LState) int {
	n := L.GetTop()
	rhs := L.Get(n)
	for i := n - 1; i >= 1; {
		lhs := L.Get(i)
		if !glua.LVCanConvToString(lhs) || !glua.LVCanConvToString(rhs) {
			op := L.GetMetaField(lhs, "__concat")
			if op == glua.LNil {
				op = L.GetMetaField(rhs, "__concat")
			}
			if op.Type() != glua.LTFunction {
				L.RaiseError("cannot perform concat operation between %v and %v", lhs.Type(), rhs.Type())
			}
			L.Push(op)
			L.Push(lhs)
			L.Push(rhs)
			L.Call(2, 1)
			rhs = L.Get(-1)
			L.Pop(1)
			i--
			continue
		}
		// The longest run of strings and numbers ending at rhs, joined at
		// once. parts holds it right to left.
		var buf [8]string
		parts := append(buf[:0], glua.LVAsString(rhs))
		size := int64(len(parts[0]))
		j := i
		for ; j >= 1; j-- {
			v := L.Get(j)
			if !glua.LVCanConvToString(v) {
				break
			}
			part := glua.LVAsString(v)
			parts = append(parts, part)
			size += int64(len(part))
		}
		s.build(L, "string concatenation (..)", size)
		var b strings.Builder
		b.Grow(int(size))
		for k := len(parts) - 1; k >= 0; k-- {
			b.WriteString(parts[k])
		}
		rhs = glua.LString(b.String())
		i = j
	}
	L.Push(rhs)
	return 1
}

// strRep is string.rep within the string limit.
func (s *Session) strRep(L *glua.LState) int {
	str := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || str == "" {
		L.Push(glua.LString(""))
		return 1
	}
	if int64(n) > s.strLimit/int64(len(str)) {
		L.RaiseError("string.rep: the result would be %.0f bytes; the limit is %s per string", float64(len(str))*float64(n), byteSize(s.strLimit))
	}
	s.build(L, "string.rep", int64(len(str))*int64(n))
	L.Push(glua.LString(strings.Repeat(str, n)))
	return 1
}

// tableConcat is table.concat (gopher-lua's, argument for argument) within
// the string limit.
func (s *Session) tableConcat(L *glua.LState) int {
	tbl := L.CheckTable(1)
	sep := L.OptString(2, "")
	n := tbl.Len()
	i := L.OptInt(3, 1)
	j := L.OptInt(4, n)
	if L.GetTop() == 3 && (i > n || i < 1) {
		L.Push(glua.LString(""))
		return 1
	}
	i = max(min(i, n), 1)
	j = min(j, n)
	if i > j {
		L.Push(glua.LString(""))
		return 1
	}
	size := int64(len(sep)) * int64(j-i)
	for k := i; k <= j; k++ {
		v := tbl.RawGetInt(k)
		if !glua.LVCanConvToString(v) {
			L.RaiseError("invalid value (%s) at index %d in table for concat", v.Type().String(), k)
		}
		size += int64(len(glua.LVAsString(v)))
	}
	s.build(L, "table.concat", size)
	var b strings.Builder
	b.Grow(int(size))
	for k := i; k <= j; k++ {
		if k > i {
			b.WriteString(sep)
		}
		b.WriteString(glua.LVAsString(tbl.RawGetInt(k)))
	}
	L.Push(glua.LString(b.String()))
	return 1
}

// formatNumberSize bounds the text of one number conversion: a width and a
// precision of at most 99 each, and the 309 digits of the largest double.
const formatNumberSize = 512

// strFormat is string.format. The format is checked the way C Lua checks it
// (at most 5 flags, widths and precisions of at most 2 digits, a known
// conversion, an argument for each), and the result is bounded before it is
// built. The formatting itself is gopher-lua's (Go's fmt).
func (s *Session) strFormat(L *glua.LState) int {
	format := L.CheckString(1)
	top := L.GetTop()
	var goFormat strings.Builder
	var args []any
	size := int64(0)
	arg := 1
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			goFormat.WriteByte(c)
			size++
			continue
		}
		if i+1 < len(format) && format[i+1] == '%' {
			goFormat.WriteString("%%")
			size++
			i++
			continue
		}
		start := i
		i++
		flags := i
		for i < len(format) && strings.IndexByte("-+ #0", format[i]) >= 0 {
			i++
		}
		if i-flags > 5 {
			L.RaiseError("string.format: bad format %q: too many flags", format[start:i])
		}
		digits := func(what string) {
			d := i
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				i++
			}
			if i-d > 2 {
				L.RaiseError("string.format: bad format %q: the %s may have at most 2 digits", format[start:i], what)
			}
		}
		digits("width")
		if i < len(format) && format[i] == '.' {
			i++
			digits("precision")
		}
		if i >= len(format) {
			L.RaiseError("string.format: bad format %q: it ends without a conversion (such as %%d or %%s)", format[start:])
		}
		conv := format[i]
		if strings.IndexByte("cdiouxXeEfgGqs", conv) < 0 {
			L.RaiseError("string.format: bad format %q: unknown conversion '%c' (use one of c d i o u x X e E f g G q s)", format[start:i+1], conv)
		}
		arg++
		if arg > top {
			L.RaiseError("bad argument #%d to format (no value)", arg)
		}
		v := L.Get(arg)
		spec := format[start:i]
		if conv == 'u' {
			conv = 'd'
		}
		goFormat.WriteString(spec)
		goFormat.WriteByte(conv)
		args = append(args, v)
		switch conv {
		case 's':
			size += int64(len(valueText(v))) + 99
		case 'q':
			size += 4*int64(len(valueText(v))) + 2 + 99
		default:
			size += formatNumberSize
		}
	}
	s.build(L, "string.format", size)
	L.Push(glua.LString(fmt.Sprintf(goFormat.String(), args...)))
	return 1
}

// valueText is what %s prints for v.
func valueText(v glua.LValue) string {
	if glua.LVCanConvToString(v) {
		return glua.LVAsString(v)
	}
	return v.String()
}

// osDate wraps os.date: a conversion such as %c writes up to 24 bytes, so
// the format's length bounds the result.
func (s *Session) osDate(date *glua.LFunction) glua.LGFunction {
	return func(L *glua.LState) int {
		if format, ok := L.Get(1).(glua.LString); ok {
			s.build(L, "os.date", 12*int64(len(format)))
		}
		return date.GFunction(L)
	}
}
