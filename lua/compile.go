package lua

// Compiling a script's text: the whole script, a chunk typed at the prompt,
// load and loadstring. Every chunk is checked for nesting (nesting.go),
// parsed, rewritten (rewrite.go) and compiled by gopher-lua.

import (
	"errors"
	"fmt"
	"strings"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// luaLoad is load and loadstring for Lua source text: load(text [, name]).
// Binary chunks and reader functions are refused. The chunk runs with the
// script's own globals, in the same sandbox.
func (s *Session) luaLoad(L *glua.LState) int {
	v := L.Get(1)
	text, ok := v.(glua.LString)
	if !ok {
		L.RaiseError("load: want a string of Lua source, not %s (reader functions are not supported)", v.Type())
	}
	name := L.OptString(2, "=(load)")
	name = strings.TrimLeft(name, "=@")
	if len(text) > maxLoadSize {
		L.Push(glua.LNil)
		L.Push(glua.LString(fmt.Sprintf("load: the text is %d bytes; the limit is %d MiB", len(text), maxLoadSize>>20)))
		return 2
	}
	if strings.HasPrefix(string(text), "\x1b") {
		L.Push(glua.LNil)
		L.Push(glua.LString("load: binary chunks are not allowed; load Lua source text"))
		return 2
	}
	fn, err := s.compileChunk(string(text), name)
	if err != nil {
		L.Push(glua.LNil)
		L.Push(glua.LString(err.Error()))
		return 2
	}
	L.Push(fn)
	return 1
}

// compile turns the code into a function. At the prompt an expression is
// tried first ("return " .. code), so its values can be printed.
func (s *Session) compile(code string, prompt bool) (fn *glua.LFunction, printResults bool, err error) {
	if prompt {
		if fn, err := s.compileChunk("return "+code, s.name); err == nil {
			return fn, true, nil
		}
	}
	// At the prompt a chunk's own `return` values are printed too.
	fn, err = s.compileChunk(stripShebang(code), s.name)
	return fn, prompt, err
}

// stripShebang blanks a first line starting with "#" (as standalone Lua does),
// keeping line numbers.
func stripShebang(code string) string {
	if strings.HasPrefix(code, "#") {
		if i := strings.IndexByte(code, '\n'); i >= 0 {
			return "--" + code[i:]
		}
		return ""
	}
	return code
}

// compileChunk parses and compiles Lua source; errors read "name:12: ...".
// Every `..` in it runs through the session's checked concatenation, and
// every tail call counts towards the call-stack limit (see rewriteChunk).
func (s *Session) compileChunk(code, name string) (*glua.LFunction, error) {
	proto, err := compileProto(code, name)
	if err != nil {
		return nil, err
	}
	return s.instantiate(proto, name)
}

// compileProto checks, parses, rewrites and compiles Lua source into a
// prototype, which any number of states may share (gopher-lua never changes
// one): a policy's states are all made from one compiled file.
func compileProto(code, name string) (*glua.FunctionProto, error) {
	if err := checkNesting(code); err != nil {
		return nil, syntaxError(name, err)
	}
	chunk, err := parse.Parse(strings.NewReader(code), name)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	proto, err := glua.Compile(wrapChunk(rewriteChunk(chunk)), name)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	return proto, nil
}

// instantiate makes the chunk's function in this session's state: the
// wrapper compiled by compileProto returns the chunk, closed over its hidden
// locals.
func (s *Session) instantiate(proto *glua.FunctionProto, name string) (*glua.LFunction, error) {
	L := s.L
	L.Push(L.NewFunctionFromProto(proto))
	L.Push(s.hidden[concatName])
	L.Push(s.hidden[retName])
	L.Push(L.G.Global)
	if err := L.PCall(3, 1, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	fn, ok := L.Get(-1).(*glua.LFunction)
	L.Pop(1)
	if !ok {
		return nil, fmt.Errorf("%s: the chunk did not compile to a function", name)
	}
	return fn, nil
}

func syntaxError(name string, err error) error {
	var pe *parse.Error
	var ce *glua.CompileError
	var ne *nestError
	switch {
	case errors.As(err, &ne):
		return &scriptError{msg: fmt.Sprintf("%s:%d: %s", name, ne.line, ne.msg), kind: ErrSyntax}
	case errors.As(err, &pe):
		if pe.Pos.Line == parse.EOF {
			return &scriptError{msg: fmt.Sprintf("%s: %s at the end of the script (a missing end, bracket or quote?)", name, pe.Message), kind: ErrSyntax}
		}
		near := ""
		if pe.Token != "" {
			near = fmt.Sprintf(" near '%s'", pe.Token)
		}
		return &scriptError{msg: fmt.Sprintf("%s:%d: %s%s", name, pe.Pos.Line, pe.Message, near), kind: ErrSyntax}
	case errors.As(err, &ce):
		return &scriptError{msg: fmt.Sprintf("%s:%d: %s", name, ce.Line, ce.Message), kind: ErrSyntax}
	}
	return &scriptError{msg: fmt.Sprintf("%s: %v", name, err), kind: ErrSyntax}
}

// Incomplete reports whether code fails to parse only because it ends early:
// an open block, bracket or long string. The Lua prompt then reads another line.
func Incomplete(code string) bool {
	if checkNesting(code) != nil {
		return false // compiling it says what is wrong
	}
	if _, err := parse.Parse(strings.NewReader("return "+code), "prompt"); err == nil {
		return false // an expression, as the prompt takes it
	}
	_, err := parse.Parse(strings.NewReader(code), "prompt")
	var pe *parse.Error
	if !errors.As(err, &pe) || pe.Pos.Line != parse.EOF {
		return false
	}
	// A short string cannot continue on the next line.
	return pe.Message != "unterminated string"
}
