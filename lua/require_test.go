package lua

import (
	"os"
	"path/filepath"
	"strings"
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

// require keeps to the scripts folders: a module that is a symbolic link to a
// file outside them (or inside a linked folder outside them) is refused; a
// link that stays inside is followed.
func TestRequireStaysInsideThroughLinks(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.lua"), []byte("return 'secret'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "real.lua"), []byte("return 'real'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"leak.lua":  filepath.Join(outside, "secret.lua"),
		"up.lua":    "../" + filepath.Base(outside) + "/secret.lua",
		"lib2":      outside,
		"alias.lua": "real.lua",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}
	q := openQueue(t)
	code := `for _, name in ipairs { "leak", "up", "lib2.secret", "alias" } do print(name, pcall(require, name)) end`
	_, out, _, err := runCode(t, q, "req.lua", code, func(o *Options) { o.ScriptDirs = []string{dir} })
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"leak", "up", "lib2.secret"} {
		want := name + "\tfalse\treq.lua:1: require \"" + name + "\": "
		if !strings.Contains(out, want) || !strings.Contains(out, "outside the scripts folder "+dir) {
			t.Errorf("output:\n%s\nwant a line starting %q saying it leads outside the scripts folder", out, want)
		}
	}
	if strings.Contains(out, "secret\n") || strings.Contains(out, "true\tsecret") {
		t.Errorf("a module outside the scripts folder was run:\n%s", out)
	}
	if !strings.Contains(out, "alias\ttrue\treal\n") {
		t.Errorf("a link inside the folder was not followed:\n%s", out)
	}
}
