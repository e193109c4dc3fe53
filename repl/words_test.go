package repl

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{``, nil},
		{`   `, nil},
		{`# only a comment`, nil},
		{`queue list -s bill@example.net`, []string{"queue", "list", "-s", "bill@example.net"}},
		{"  list\t-p  5  ", []string{"list", "-p", "5"}},
		{`cancel -s '<>'`, []string{"cancel", "-s", "<>"}},
		{`a 'b c' "d e"`, []string{"a", "b c", "d e"}},
		{`a'b'"c"d`, []string{"abcd"}},
		{`'' ""`, []string{"", ""}},
		{`a\ b`, []string{"a b"}},
		{`a\'b`, []string{"a'b"}},
		{`'a\b'`, []string{`a\b`}},
		{`"a\b"`, []string{`a\b`}},
		{`"a\"b\\c\$d\` + "`" + `"`, []string{"a\"b\\c$d`"}},
		{`"it's"`, []string{"it's"}},
		{`'say "hi"'`, []string{`say "hi"`}},
		{`list # the rest is a comment`, []string{"list"}},
		{`list a#b`, []string{"list", "a#b"}},
		{`list '#quoted'`, []string{"list", "#quoted"}},
		{"list \\\n-s x", []string{"list", "-s", "x"}},
		{"\"a\\\nb\"", []string{"ab"}},
		{"list # c\nstatus", []string{"list", "status"}},
		{`lua 'print("x y")'`, []string{"lua", `print("x y")`}},
		{"caf\xc3\xa9 \xff", []string{"café", "\xff"}},
	}
	for _, tt := range tests {
		got, err := SplitWords(tt.line)
		if err != nil {
			t.Errorf("SplitWords(%q): %v", tt.line, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("SplitWords(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestSplitWordsIncomplete(t *testing.T) {
	for _, line := range []string{`'open`, `"open`, `a "b`, `trailing\`, `"x\`} {
		if _, err := SplitWords(line); !errors.Is(err, ErrIncomplete) {
			t.Errorf("SplitWords(%q) error = %v, want ErrIncomplete", line, err)
		}
	}
}

func TestQuoteWord(t *testing.T) {
	tests := map[string]string{
		"list":             "list",
		"bill@example.net": "bill@example.net",
		"<>":               "<>",
		"":                 "''",
		"a b":              "'a b'",
		"it's":             `'it'\''s'`,
		"#x":               "'#x'",
		"$HOME":            "'$HOME'",
	}
	for in, want := range tests {
		if got := quoteWord(in); got != want {
			t.Errorf("quoteWord(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSplitWords checks that splitting never panics and that the words it
// returns survive quoting and splitting again.
func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{`queue list -s 'a b'`, `"x\"y" \z # c`, "a\\\nb", `''`, `'it'\''s'`, "\"\\$\"", "a\tb\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := SplitWords(line)
		if err != nil {
			if !errors.Is(err, ErrIncomplete) {
				t.Fatalf("SplitWords(%q): unexpected error %v", line, err)
			}
			return
		}
		again, err := SplitWords(joinWords(words))
		if err != nil {
			t.Fatalf("SplitWords(joinWords(%q)) = %v", words, err)
		}
		if !slices.Equal(again, words) && !(len(again) == 0 && len(words) == 0) {
			t.Fatalf("round trip of %q: %q -> %q -> %q", line, words, joinWords(words), again)
		}
	})
}

func TestSplitRawTail(t *testing.T) {
	cases := []struct {
		line string
		want []string // nil: not a raw-tail line
	}{
		{`lua print("hi")`, []string{"lua", "--", `print("hi")`}},
		{`  lua   return #queue.list{sender = '<>'}  `, []string{"lua", "--", `return #queue.list{sender = '<>'}`}},
		{`lua --dry-run queue.cancel{sender="a@b.example"}`, []string{"lua", "--dry-run", "--", `queue.cancel{sender="a@b.example"}`}},
		{`lua --timeout 5s while true do end`, []string{"lua", "--timeout", "5s", "--", "while true do end"}},
		{`lua --timeout=5s -- -1`, []string{"lua", "--timeout=5s", "--", "-1"}},
		{`lua 'print("hi")'`, []string{"lua", "--", `print("hi")`}},
		{`lua --dry-run "queue.cancel{sender = 'x@y.example'}"`, []string{"lua", "--dry-run", "--", `queue.cancel{sender = 'x@y.example'}`}},
		{`lua "a" .. "b"`, []string{"lua", "--", `"a" .. "b"`}},
		{`lua`, []string{"lua"}},
		{`lua --help`, []string{"lua", "--help"}},
		{`list -s 'a b'`, nil},
		{`queue lua x`, nil},
		{`# lua x`, nil},
	}
	for _, c := range cases {
		got, ok := splitRawTail(Commands(), c.line)
		if c.want == nil {
			if ok {
				t.Errorf("%q: taken as a raw-tail line: %q", c.line, got)
			}
			continue
		}
		if !ok || !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q (%v), want %q", c.line, got, ok, c.want)
		}
	}
}

// FuzzWordViews checks that the views of the one scanner agree on every line:
// SplitWords (the loop), cutWord (the raw-tail splitter) and lexLine (the
// completer) see the same words, and a word's raw span reads back as the word.
func FuzzWordViews(f *testing.F) {
	for _, s := range []string{
		`queue list -s 'a b'`, `"x\"y" \z # c`, "a\\\nb", "\"a\\\nb\"", `''`, `'it'\''s'`,
		"list \\\n-s x", "caf\xc3\xa9 \xff", "a\xffb", `lua 'print("x y")' --`, "a # c\nb", `"open`, `x\`,
		`"a\b"`, `"\$\` + "`" + `"`, "\t\r\n", "#", "a#b '#' \\#",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := SplitWords(line)
		if err != nil && !errors.Is(err, ErrIncomplete) {
			t.Fatalf("SplitWords(%q): unexpected error %v", line, err)
		}
		lx := lexLine(line)
		if err == nil {
			got := slices.Clone(lx.words)
			if lx.curRaw != "" {
				got = append(got, lx.cur)
			}
			if !slices.Equal(got, words) && len(got)+len(words) > 0 || lx.quote != 0 {
				t.Fatalf("line %q: SplitWords %q, lexLine %q + %q (raw %q, quote %q)", line, words, lx.words, lx.cur, lx.curRaw, lx.quote)
			}
		} else if lx.quote == 0 && !strings.HasSuffix(lx.curRaw, `\`) {
			t.Fatalf("line %q: SplitWords says incomplete, lexLine has no open quote or backslash (%q, raw %q)", line, lx.cur, lx.curRaw)
		}
		// Each whole word's raw span reads back as the word alone.
		sc := wordScanner{line: line}
		for {
			tok, ok := sc.next()
			if !ok || tok.open != 0 {
				break
			}
			if again, err := SplitWords(line[tok.start:tok.end]); err != nil || len(again) != 1 || again[0] != tok.text {
				t.Fatalf("line %q: the word %q spans %q, which splits as %q (%v)", line, tok.text, line[tok.start:tok.end], again, err)
			}
		}
		w, rest, ok := cutWord(line)
		switch {
		case err != nil:
		case len(words) == 0 && ok:
			t.Fatalf("cutWord(%q) = %q, %q; SplitWords finds no word", line, w, rest)
		case len(words) > 0:
			after, rerr := SplitWords(rest)
			if !ok || w != words[0] || rerr != nil || !slices.Equal(after, words[1:]) && len(after)+len(words) > 1 {
				t.Fatalf("cutWord(%q) = %q, %q, %v (then %q, %v); SplitWords %q", line, w, rest, ok, after, rerr, words)
			}
		}
	})
}

// quoteWord quotes a word so that SplitWords reads it back unchanged: plain
// words stay as they are, anything else goes in single quotes. It is the
// inverse the round-trip tests check the scanner against.
func quoteWord(w string) string {
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

// joinWords quotes and joins words into one command line.
func joinWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = quoteWord(w)
	}
	return strings.Join(q, " ")
}
