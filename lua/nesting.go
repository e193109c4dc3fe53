package lua

// A cheap look at the nesting of Lua source before gopher-lua parses it.
// gopher-lua's parser, compiler and our rewriting walk the syntax tree by
// recursion, and a chunk nested a million deep (a load of generated text,
// say) takes seconds to parse, gigabytes to compile and may crash the process
// with a Go stack overflow, all out of reach of the time limit. Lua itself
// refuses a chunk nested deeper than 200 levels ("chunk has too many syntax
// levels"); so does mqsh, by scanning the text's tokens once, before parsing.
//
// The scan counts as one level each open bracket ( { [, each open block
// (function, if, do, repeat: closed by end or until), and each unary operator
// in a row (- - - x). A chain of binary operators (1 + 1 + 1 ...) nests
// gopher-lua's syntax tree as deep as it is long, though Lua itself takes
// any length: such chains are allowed up to maxOperatorChain operators in the
// open expressions.

import (
	"fmt"
)

const (
	maxSyntaxLevels  = 200  // open brackets, blocks and unary operators, as in Lua
	maxOperatorChain = 5000 // binary operators in a row, summed over the open brackets
)

// nestError is code nested too deep: the line where it went over, and what.
type nestError struct {
	line int
	msg  string
}

func (e *nestError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// checkNesting returns a *nestError if the code nests too deep.
func checkNesting(code string) error {
	sc := nestScan{src: code, line: 1, chains: []int{0}}
	return sc.run()
}

type nestScan struct {
	src     string
	i       int
	line    int
	depth   int   // open brackets and blocks
	unary   int   // unary operators in a row
	chains  []int // binary operators in the current expression of each open bracket
	chained int   // chains summed
	operand bool  // the last token ends an operand, so a - after it is binary
}

func (sc *nestScan) run() error {
	src := sc.src
	for sc.i < len(src) {
		c := src[sc.i]
		switch {
		case c == '\n':
			sc.line++
			sc.i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			sc.i++
		case c == '-' && sc.peek(1) == '-':
			sc.i += 2
			if n := sc.longBracket(); n >= 0 {
				sc.skipLong(n)
			} else {
				for sc.i < len(src) && src[sc.i] != '\n' {
					sc.i++
				}
			}
		case c == '"' || c == '\'':
			sc.skipString(c)
			sc.token(false, true)
		case c == '[':
			if n := sc.longBracket(); n >= 0 {
				sc.skipLong(n)
				sc.token(false, true)
				continue
			}
			sc.i++
			if err := sc.open(); err != nil {
				return err
			}
		case c == '(' || c == '{':
			sc.i++
			if err := sc.open(); err != nil {
				return err
			}
		case c == ')' || c == '}' || c == ']':
			sc.i++
			sc.close()
		case isDigit(c) || c == '.' && isDigit(sc.peek(1)):
			sc.skipNumber()
			sc.token(false, true)
		case isAlpha(c) || c == '_':
			start := sc.i
			for sc.i < len(src) && (isAlpha(src[sc.i]) || isDigit(src[sc.i]) || src[sc.i] == '_') {
				sc.i++
			}
			if err := sc.word(src[start:sc.i]); err != nil {
				return err
			}
		default:
			if err := sc.symbol(); err != nil {
				return err
			}
		}
	}
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (sc *nestScan) peek(n int) byte {
	if sc.i+n < len(sc.src) {
		return sc.src[sc.i+n]
	}
	return 0
}

func (sc *nestScan) tooDeep() error {
	return &nestError{sc.line, fmt.Sprintf("chunk has too many syntax levels (brackets, blocks and operators nested more than %d deep)", maxSyntaxLevels)}
}

// token notes a token other than an operator: it ends a run of unary
// operators, and, when reset, the chain of binary operators too.
func (sc *nestScan) token(reset, operand bool) {
	sc.unary = 0
	sc.operand = operand
	if reset {
		sc.chained -= sc.chains[len(sc.chains)-1]
		sc.chains[len(sc.chains)-1] = 0
	}
}

func (sc *nestScan) open() error {
	sc.token(false, false)
	sc.depth++
	if sc.depth > maxSyntaxLevels {
		return sc.tooDeep()
	}
	sc.chains = append(sc.chains, 0)
	return nil
}

func (sc *nestScan) close() {
	if sc.depth > 0 {
		sc.depth--
		sc.chained -= sc.chains[len(sc.chains)-1]
		sc.chains = sc.chains[:len(sc.chains)-1]
	}
	sc.token(false, true)
}

func (sc *nestScan) unaryOp() error {
	sc.unary++
	sc.operand = false
	if sc.depth+sc.unary > maxSyntaxLevels {
		return sc.tooDeep()
	}
	return nil
}

func (sc *nestScan) binaryOp() error {
	sc.unary = 0
	sc.operand = false
	sc.chains[len(sc.chains)-1]++
	sc.chained++
	if sc.chained > maxOperatorChain {
		return &nestError{sc.line, fmt.Sprintf("an expression chains more than %d operators; split it into parts", maxOperatorChain)}
	}
	return nil
}

func (sc *nestScan) word(w string) error {
	switch w {
	case "function", "if", "do", "repeat":
		return sc.open()
	case "end", "until":
		sc.close()
		if w == "until" {
			sc.token(true, false) // the condition follows
		}
	case "and", "or":
		return sc.binaryOp()
	case "not":
		return sc.unaryOp()
	case "nil", "true", "false":
		sc.token(false, true)
	case "then", "else", "elseif", "while", "for", "in", "local", "return", "break":
		sc.token(true, false)
	default:
		sc.token(false, true) // a name
	}
	return nil
}

func (sc *nestScan) symbol() error {
	c := sc.src[sc.i]
	two := string(c) + string(sc.peek(1))
	switch two {
	case "==", "~=", "<=", ">=":
		sc.i += 2
		return sc.binaryOp()
	case "..":
		if sc.peek(2) == '.' {
			sc.i += 3
			sc.token(false, true) // ...
			return nil
		}
		sc.i += 2
		return sc.binaryOp()
	}
	sc.i++
	switch c {
	case '-':
		if sc.operand {
			return sc.binaryOp()
		}
		return sc.unaryOp()
	case '#':
		return sc.unaryOp()
	case '+', '*', '/', '%', '^', '<', '>':
		return sc.binaryOp()
	case ',', ';', '=':
		sc.token(true, false)
	default:
		sc.token(false, false) // . : and anything the parser will refuse
	}
	return nil
}

// longBracket returns the level of a long bracket [==[ at the scan's
// position and moves past it, or returns -1 and stays.
func (sc *nestScan) longBracket() int {
	if sc.peek(0) != '[' {
		return -1
	}
	n := 1
	for sc.peek(n) == '=' {
		n++
	}
	if sc.peek(n) != '[' {
		return -1
	}
	sc.i += n + 1
	return n - 1
}

// skipLong moves past the closing ]==] of a long string or comment of level n.
func (sc *nestScan) skipLong(n int) {
	src := sc.src
	for sc.i < len(src) {
		c := src[sc.i]
		sc.i++
		if c == '\n' {
			sc.line++
			continue
		}
		if c != ']' {
			continue
		}
		k := 0
		for sc.i+k < len(src) && src[sc.i+k] == '=' {
			k++
		}
		if k == n && sc.i+k < len(src) && src[sc.i+k] == ']' {
			sc.i += k + 1
			return
		}
	}
}

// skipString moves past a quoted string (or to the end of its line, if it is
// not closed: the parser reports that).
func (sc *nestScan) skipString(q byte) {
	src := sc.src
	sc.i++
	for sc.i < len(src) {
		c := src[sc.i]
		sc.i++
		switch c {
		case q:
			return
		case '\n':
			sc.line++
			return
		case '\\':
			if sc.i < len(src) {
				if src[sc.i] == '\n' {
					sc.line++
				}
				sc.i++
			}
		}
	}
}

// skipNumber moves past a number: 3, 3.5e-2, 0xff.
func (sc *nestScan) skipNumber() {
	src := sc.src
	hex := src[sc.i] == '0' && (sc.peek(1) == 'x' || sc.peek(1) == 'X')
	if hex {
		sc.i += 2
	}
	for sc.i < len(src) {
		c := src[sc.i]
		switch {
		case isDigit(c) || c == '.' || isAlpha(c) || c == '_':
			sc.i++
			if !hex && (c == 'e' || c == 'E') && (sc.peek(0) == '+' || sc.peek(0) == '-') {
				sc.i++
			}
		default:
			return
		}
	}
}
