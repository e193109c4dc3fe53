package lua

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The pattern functions give what Lua 5.1 gives.
func TestPatterns(t *testing.T) {
	tests := []struct{ code, want string }{
		{`print(string.find("hello world", "o w"))`, "5\t7"},
		{`print(string.find("hello", "l+"))`, "3\t4"},
		{`print(string.find("hello", "(l)(l)"))`, "3\t4\tl\tl"},
		{`print(string.find("a.b", ".", 1, true), string.find("a.b", "%."))`, "2\t2\t2"},
		{`print(string.find("abc", "b", -1), string.find("abc", "b", -2), string.find("abc", "", 10))`, "nil\t2\t4\t3"},
		{`print(string.find("abc", "^b"), string.find("abc", "^a"), string.find("abc", "c$"), string.find("a$c", "$c"))`, "nil\t1\t3\t2\t3"},
		{`print(string.match("key = value", "(%w+)%s*=%s*(%w+)"))`, "key\tvalue"},
		{`print(string.match("hello", "()ll()"))`, "3\t5"},
		{`print(string.match("  trim  ", "^%s*(.-)%s*$"))`, "trim"},
		{`print(string.match("THE (quick) fox", "%((%a+)%)"), string.match("f(a(b)c)d", "%b()"))`, "quick\t(a(b)c)"},
		{`print(string.match("x = 'it''s'", "(['\"])(.-)%1"))`, "'\tit"},
		{`print(string.match("THE quick", "%f[%a]%a+", 4))`, "quick"},
		{`print(string.match("a1-b2", "[%a%d]+"), string.match("x]y", "[]]"), string.match("a-z", "[a%-z]+"), string.match("abc", "[^a]+"))`, "a1\t]\ta-z\tbc"},
		{`print(string.match("0x1F", "%x+", 3), string.match("a\0b", "%z"), string.match("A b", "%u%s%l"), string.match("!?", "%p+"))`, "1F\t\000\tA b\t!?"},
		{`print(string.match("aaa", "a-b"), string.match("aaab", "a-b"), string.match("ab", "ab?c?"), string.match("abc", "%S+"))`, "nil\taaab\tab\tabc"},
		{`local r = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do r[#r+1] = k .. v end print(table.concat(r, " "))`, "a1 b2"},
		{`local r = {} for w in string.gmatch("one two  three", "%a+") do r[#r+1] = w end print(table.concat(r, ","))`, "one,two,three"},
		{`local n = 0 for w in string.gmatch("abc", "") do n = n + 1 end print(n)`, "4"},
		{`local r = {} for p in string.gmatch("abc", "()") do r[#r+1] = p end print(table.concat(r, ","))`, "1,2,3,4"},
		{`print(string.gsub("hello world", "o", "0"))`, "hell0 w0rld\t2"},
		{`print(string.gsub("hello", "", "-"))`, "-h-e-l-l-o-\t6"},
		{`print(string.gsub("abc", "%w", "%0%0"), string.gsub("abc", "(%w)", "%1."), string.gsub("a b", "%w", "%%"))`, "aabbcc\ta.b.c.\t% %\t2"},
		{`print(string.gsub("hello world", "(o)", "[%1]", 1))`, "hell[o] world\t1"},
		{`print(string.gsub("$a $b", "%$(%w+)", {a = "A", b = false}))`, "A $b\t2"},
		{`print(string.gsub("abc", "()", "%1"))`, "1a2b3c4\t4"},
		{`print(string.gsub("x y", "%w", function(c) if c == "x" then return nil end return c:upper() end))`, "x Y\t2"},
		{`print(string.gsub("aaa", "^a", "b"), string.gsub("abc", "$", "!"))`, "baa\tabc!\t1"},
		{`print(pcall(string.gsub, "abc", "a", function() return {} end))`, "false\tstring.gsub: invalid replacement value (a table)"},
		{`print(pcall(string.find, "abc", "%"))`, "false\tstring.find: malformed pattern (ends with '%')"},
		{`print(pcall(string.find, "abc", "[a"))`, "false\tstring.find: malformed pattern (missing ']')"},
		{`print(pcall(string.match, "abc", "(a"))`, "false\tstring.match: unfinished capture"},
		{`print(pcall(string.match, "abc", "a)"))`, "false\tstring.match: invalid pattern capture"},
		{`print(pcall(string.match, "abc", "%1"))`, "false\tstring.match: invalid capture index"},
		{`print(pcall(string.match, "abc", string.rep("(", 40) .. string.rep(")", 40)))`, "false\tstring.match: too many captures"},
		{`print(pcall(string.match, string.rep("a", 300), string.rep("a?", 300)))`, "false\tstring.match: pattern too complex"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			q := openQueue(t)
			_, out, _, err := runCode(t, q, "patterns.lua", tt.code, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(out, "patterns.lua:1: ", "")
			if got != tt.want+"\n" {
				t.Errorf("%s\nprinted %q\nwant    %q", tt.code, got, tt.want+"\n")
			}
		})
	}
}

// A pattern that would backtrack for ever ends at the script's time limit,
// and at a cancelled context, in each of the pattern functions.
func TestRunawayPatternStops(t *testing.T) {
	for _, call := range []string{
		`string.find(s, ".-.-.-.-.-b")`,
		`string.match(s, ".-.-.-.-.-b")`,
		`string.gsub(s, ".-.-.-.-.-b", "")`,
		`for w in string.gmatch(s, ".-.-.-.-.-b") do end`,
		`pcall(string.find, s, "(.-)(.-)(.-)(.-)%1%2%3%4b")`,
	} {
		t.Run(call, func(t *testing.T) {
			q := openQueue(t)
			code := `local s = string.rep("a", 100000) ` + call
			done := make(chan error, 1)
			go func() {
				_, _, _, err := runCode(t, q, "spin.lua", code, func(o *Options) { o.Timeout = 100 * time.Millisecond })
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "time limit of 100ms reached") {
					t.Errorf("error %v, want the time limit", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the script ran on past its time limit of 100ms")
			}
		})
	}
	t.Run("cancel", func(t *testing.T) {
		q := openQueue(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := Run(ctx, q, Options{Name: "spin.lua", Code: `return string.find(string.rep("a", 100000), ".-.-.-.-.-b")`, Timeout: -1})
			done <- err
		}()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, ErrInterrupted) {
				t.Errorf("error %v, want interrupted", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the script ran on after its context was cancelled")
		}
	})
}

// Code nested deeper than Lua allows is refused before it is parsed, at
// once, with the line; code nested less deep runs.
func TestDeepNesting(t *testing.T) {
	tests := []struct{ code, want string }{
		{`print(load("x = " .. string.rep("(", 500000) .. "1" .. string.rep(")", 500000), "=deep"))`, "nil\tdeep:1: chunk has too many syntax levels"},
		{`print(load(string.rep("do ", 120000) .. string.rep("end ", 120000), "=deep"))`, "nil\tdeep:1: chunk has too many syntax levels"},
		{`print(load("x = {\n" .. string.rep("{", 500000) .. string.rep("}", 500000) .. "}", "=deep"))`, "nil\tdeep:2: chunk has too many syntax levels"},
		{`print(load("x = " .. string.rep("- ", 400000) .. "1", "=deep"))`, "nil\tdeep:1: chunk has too many syntax levels"},
		{`print(load("x = " .. string.rep("not ", 250000) .. "1", "=deep"))`, "nil\tdeep:1: chunk has too many syntax levels"},
		{`print(load("x = 1" .. string.rep(" + 1", 200000), "=deep"))`, "nil\tdeep:1: an expression chains more than 5000 operators"},
		{`print(load("x = 1" .. string.rep(" .. 1", 200000), "=deep"))`, "nil\tdeep:1: an expression chains more than 5000 operators"},
		{`print(load("return " .. string.rep("(", 150) .. "1" .. string.rep(")", 150))())`, "1"},
		{`print(load("return 1" .. string.rep(" + 1", 4000))())`, "4001"},
		{`local f = load("local x = 0 " .. string.rep("do x = x + 1 ", 150) .. string.rep("end ", 150) .. "return x") print(f())`, "150"},
		{`print(load("return 2 - -1, 3-1, ({4})[1]-1, 0x10-1, 1e-1 - 1e+1, #'ab' - 1, --[[ c ]] [==[x]==] .. \"]]\"")())`, "3\t2\t3\t15\t-9.9\t1\tx]]"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			q := openQueue(t)
			_, out, _, err := runCode(t, q, "deep", tt.code, func(o *Options) { o.Timeout = 20 * time.Second })
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out, tt.want) {
				t.Errorf("printed %q, want it to start %q", out, tt.want)
			}
		})
	}
}
