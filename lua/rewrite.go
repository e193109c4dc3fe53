package lua

// Workarounds for gopher-lua 1.1.2, applied to a chunk's syntax tree before
// it is compiled, in this one file:
//
//   - `..` becomes a call of mqsh's checked concatenation: gopher-lua's own
//     has no length limit and no hook (see rewriteChunk);
//   - `return f(x)` is no longer a tail call: gopher-lua's traceback of a long
//     tail recursion could take gigabytes;
//   - a loop body that breaks starts with a local: gopher-lua miscompiles
//     some loops whose body breaks before any local is declared.
//
// The functions the rewritten code calls are handed to it as locals of a
// function that wraps the chunk, `local (concat), (ret), (G) = ...; return
// function(...) arg = (G).arg CHUNK end` (wrapChunk): the chunk reads them as
// upvalues, no global lookup is paid, and no script can reach, replace or
// remove them. As a function of its own with `...`, the chunk gets from
// gopher-lua (as Lua 5.0 did) a local `arg` that would hide the global one;
// the wrapper sets it to the global's value when the chunk starts.

import (
	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// wrapChunk wraps a (rewritten) chunk in the function that gives it its
// hidden locals: called with the functions named by concatName and retName
// and the globals table, in that order, it returns the chunk as a function of
// its own (taking the script's arguments as ...).
func wrapChunk(chunk []ast.Stmt) []ast.Stmt {
	line, last := 1, 1
	if len(chunk) > 0 {
		line, last = chunk[0].Line(), chunk[len(chunk)-1].LastLine()
	}
	at := func(n interface {
		SetLine(int)
		SetLastLine(int)
	}, first, last int) {
		n.SetLine(first)
		n.SetLastLine(last)
	}
	args := &ast.Comma3Expr{}
	at(args, line, line)
	locals := &ast.LocalAssignStmt{Names: []string{concatName, retName, globalsName}, Exprs: []ast.Expr{args}}
	at(locals, line, line)
	// arg = (G).arg
	g := &ast.IdentExpr{Value: globalsName}
	at(g, line, line)
	key := &ast.StringExpr{Value: "arg"}
	at(key, line, line)
	get := &ast.AttrGetExpr{Object: g, Key: key}
	at(get, line, line)
	local := &ast.IdentExpr{Value: "arg"}
	at(local, line, line)
	setArg := &ast.AssignStmt{Lhs: []ast.Expr{local}, Rhs: []ast.Expr{get}}
	at(setArg, line, line)
	fn := &ast.FunctionExpr{ParList: &ast.ParList{HasVargs: true}, Stmts: append([]ast.Stmt{setArg}, chunk...)}
	at(fn, line, last)
	ret := &ast.ReturnStmt{Exprs: []ast.Expr{fn}}
	at(ret, line, last)
	return []ast.Stmt{locals, ret}
}

// guardBreak puts a hidden local first in the body of loop if the body
// breaks out of it.
func guardBreak(body []ast.Stmt, loop ast.Stmt) []ast.Stmt {
	if !breaks(body) {
		return body
	}
	guard := &ast.LocalAssignStmt{Names: []string{breakName}}
	guard.SetLine(loop.Line())
	guard.SetLastLine(loop.Line())
	return append([]ast.Stmt{guard}, body...)
}

// breaks reports whether a break in stmts (not in a loop or function of its
// own) leaves the loop they are the body of.
func breaks(stmts []ast.Stmt) bool {
	for _, st := range stmts {
		switch st := st.(type) {
		case *ast.BreakStmt:
			return true
		case *ast.DoBlockStmt:
			if breaks(st.Stmts) {
				return true
			}
		case *ast.IfStmt:
			if breaks(st.Then) || breaks(st.Else) {
				return true
			}
		}
	}
	return false
}

// The hidden locals rewritten code uses. No Lua code can name them (they are
// not names in Lua's grammar), and they are locals of the function that
// wraps the chunk (see wrapChunk), so nothing can reach or replace them.
const (
	concatName  = "(concat)" // a .. b .. c, the checked concatenation (luaConcat)
	retName     = "(ret)"    // return f(x), the identity (luaRet)
	globalsName = "(G)"      // the globals table, for the global arg
	breakName   = "(break)"  // the first local of a loop body that breaks
)

// rewriteChunk rewrites the chunk before it is compiled:
//
//   - every chain a .. b .. c becomes the call (concat)(a, b, c).
//     gopher-lua's own OP_CONCAT has no limit and no hook: one `s .. s` could
//     allocate gigabytes before the memory watch sees it.
//   - every `return f(x)` becomes `return (ret)(f(x))`: f is called as any
//     other function, with all its values passed on, and only the identity is
//     tail-called. So tail calls count towards the call-stack limit. A tail
//     call in gopher-lua takes no stack, but leaves a mark in its frame, and
//     the traceback of an error lists every mark in one Go call: a runaway
//     tail recursion, stopped after a minute, would take gigabytes to report.
//   - a loop whose body breaks gets a local of its own as the body's first
//     statement. gopher-lua 1.1.2 miscompiles some loops whose body breaks
//     without a local declared before the break (a later
//     "for m in pairs(t) do break end" can send an earlier loop round for
//     ever; TestLoneBreak has one); a local first keeps it from doing so.
func rewriteChunk(chunk []ast.Stmt) []ast.Stmt {
	rewriteStmts(chunk)
	return chunk
}

func rewriteStmts(stmts []ast.Stmt) {
	for _, st := range stmts {
		rewriteStmt(st)
	}
}

func rewriteExprs(exprs []ast.Expr) {
	for i, e := range exprs {
		exprs[i] = rewriteExpr(e)
	}
}

func rewriteStmt(st ast.Stmt) {
	switch st := st.(type) {
	case *ast.AssignStmt:
		rewriteExprs(st.Lhs)
		rewriteExprs(st.Rhs)
	case *ast.LocalAssignStmt:
		rewriteExprs(st.Exprs)
	case *ast.FuncCallStmt:
		st.Expr = rewriteExpr(st.Expr)
	case *ast.DoBlockStmt:
		rewriteStmts(st.Stmts)
	case *ast.WhileStmt:
		st.Condition = rewriteExpr(st.Condition)
		rewriteStmts(st.Stmts)
		st.Stmts = guardBreak(st.Stmts, st)
	case *ast.RepeatStmt:
		st.Condition = rewriteExpr(st.Condition)
		rewriteStmts(st.Stmts)
		st.Stmts = guardBreak(st.Stmts, st)
	case *ast.IfStmt:
		st.Condition = rewriteExpr(st.Condition)
		rewriteStmts(st.Then)
		rewriteStmts(st.Else)
	case *ast.NumberForStmt:
		st.Init = rewriteExpr(st.Init)
		st.Limit = rewriteExpr(st.Limit)
		st.Step = rewriteExpr(st.Step)
		rewriteStmts(st.Stmts)
		st.Stmts = guardBreak(st.Stmts, st)
	case *ast.GenericForStmt:
		rewriteExprs(st.Exprs)
		rewriteStmts(st.Stmts)
		st.Stmts = guardBreak(st.Stmts, st)
	case *ast.FuncDefStmt:
		if st.Name != nil {
			st.Name.Func = rewriteExpr(st.Name.Func)
			st.Name.Receiver = rewriteExpr(st.Name.Receiver)
		}
		rewriteStmts(st.Func.Stmts)
	case *ast.ReturnStmt:
		rewriteExprs(st.Exprs)
		// A single call not in brackets is what gopher-lua compiles into a
		// tail call (a concatenation is already a bracketed call).
		if len(st.Exprs) == 1 {
			if call, ok := st.Exprs[0].(*ast.FuncCallExpr); ok && !call.AdjustRet {
				st.Exprs[0] = hiddenCall(retName, call, []ast.Expr{call}, false)
			}
		}
	}
}

// hiddenCall is a call of the hidden global name, on the lines of the code at.
// adjust truncates its values to one (and keeps it from being a tail call).
func hiddenCall(name string, at ast.Expr, args []ast.Expr, adjust bool) *ast.FuncCallExpr {
	fn := &ast.IdentExpr{Value: name}
	fn.SetLine(at.Line())
	fn.SetLastLine(at.LastLine())
	call := &ast.FuncCallExpr{Func: fn, Args: args, AdjustRet: adjust}
	call.SetLine(at.Line())
	call.SetLastLine(at.LastLine())
	return call
}

func rewriteExpr(e ast.Expr) ast.Expr {
	switch e := e.(type) {
	case *ast.StringConcatOpExpr:
		// a .. b .. c parses as a .. (b .. c): one chain, one call, the way
		// gopher-lua compiles it into one OP_CONCAT.
		var args []ast.Expr
		var cur ast.Expr = e
		for {
			c, ok := cur.(*ast.StringConcatOpExpr)
			if !ok {
				args = append(args, oneValue(rewriteExpr(cur)))
				break
			}
			args = append(args, oneValue(rewriteExpr(c.Lhs)))
			cur = c.Rhs
		}
		// AdjustRet: one value, and never a tail call, so that an error
		// raised by the concatenation names the line of the `..`.
		return hiddenCall(concatName, e, args, true)
	case *ast.AttrGetExpr:
		e.Object = rewriteExpr(e.Object)
		e.Key = rewriteExpr(e.Key)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			f.Key = rewriteExpr(f.Key)
			f.Value = rewriteExpr(f.Value)
		}
	case *ast.FuncCallExpr:
		e.Func = rewriteExpr(e.Func)
		e.Receiver = rewriteExpr(e.Receiver)
		rewriteExprs(e.Args)
	case *ast.LogicalOpExpr:
		e.Lhs = rewriteExpr(e.Lhs)
		e.Rhs = rewriteExpr(e.Rhs)
	case *ast.RelationalOpExpr:
		e.Lhs = rewriteExpr(e.Lhs)
		e.Rhs = rewriteExpr(e.Rhs)
	case *ast.ArithmeticOpExpr:
		e.Lhs = rewriteExpr(e.Lhs)
		e.Rhs = rewriteExpr(e.Rhs)
	case *ast.UnaryMinusOpExpr:
		e.Expr = rewriteExpr(e.Expr)
	case *ast.UnaryNotOpExpr:
		e.Expr = rewriteExpr(e.Expr)
	case *ast.UnaryLenOpExpr:
		e.Expr = rewriteExpr(e.Expr)
	case *ast.FunctionExpr:
		rewriteStmts(e.Stmts)
	}
	return e
}

// oneValue truncates an operand of `..` to one value, as the operator does:
// a call or `...` giving several values gives its first, and giving none
// gives nil. As an argument of (concat) the last operand would otherwise
// pass all its values on. This is what brackets do: ("x" .. (f())).
func oneValue(e ast.Expr) ast.Expr {
	switch e := e.(type) {
	case *ast.FuncCallExpr:
		e.AdjustRet = true
	case *ast.Comma3Expr:
		e.AdjustRet = true
	}
	return e
}

// luaRet is what `return f(x)` tail-calls: it returns its arguments.
func luaRet(L *glua.LState) int { return L.GetTop() }
