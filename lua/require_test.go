package lua

import (
	"os"
	"path/filepath"
	"testing"
)

// A module whose loading fails is not remembered: requiring it again tries
// again (and fails again for the same reason) rather than calling it a loop.
func TestRequireAfterFailedLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.lua"), []byte("error('boom')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q := openQueue(t)
	code := `local ok1, e1 = pcall(require, "bad")
local ok2, e2 = pcall(require, "bad")
print(ok1, e1)
print(ok2, e2)`
	_, out, _, err := runCode(t, q, "req.lua", code, func(o *Options) { o.ScriptDirs = []string{dir} })
	if err != nil {
		t.Fatal(err)
	}
	want := "false\tbad.lua:1: boom\nfalse\tbad.lua:1: boom\n"
	if out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}
