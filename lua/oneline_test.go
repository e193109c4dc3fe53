package lua

import "testing"

func TestOneLine(t *testing.T) {
	tests := []struct {
		code, want string
		ok         bool
	}{
		{"print('a -- b')", "print('a -- b')", true},
		{"x = 1 -- a note\n", "x = 1 -- a note", true},
		{"for i = 1, 2 do -- loop\n  print(i)\nend", "for i = 1, 2 do print(i) end", true},
		{"local s = \"two  spaces -- kept\"\nprint(s)", "local s = \"two  spaces -- kept\" print(s)", true},
		{"--[[ long\ncomment ]] x = 1\ny = 2", "x = 1 y = 2", true},
		{"x = [[one\ntwo]]", "", false},
		{"x = 'a\\\nb'", "", false},
		{"t = { [1] = 2,\n[ [[k]] ] = 3 }", "t = { [1] = 2, [ [[k]] ] = 3 }", true},
		{"a = 1 - -1\nb = 2", "a = 1 - -1 b = 2", true},
	}
	for _, tt := range tests {
		got, ok := OneLine(tt.code)
		if got != tt.want || ok != tt.ok {
			t.Errorf("OneLine(%q) = %q, %v; want %q, %v", tt.code, got, ok, tt.want, tt.ok)
		}
	}
}
