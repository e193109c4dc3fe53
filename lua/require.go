package lua

// require: modules from the scripts folders only, never out of them.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	glua "github.com/yuin/gopher-lua"

	"mqsh/scripts"
)

// moduleName is what require accepts: names separated by dots, nothing that
// could climb out of a scripts folder.
var moduleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$`)

// requirer finds modules for require in the scripts folders, then among the
// built-in scripts, and remembers what it loaded.
type requirer struct {
	dirs   []string
	loaded map[string]glua.LValue // module name -> its value; nil while loading
}

func newRequirer(dirs []string) *requirer {
	return &requirer{dirs: dirs, loaded: map[string]glua.LValue{}}
}

// find returns the source and chunk name of a module. A module is read
// through os.Root: a symbolic link (of the file or of a folder on its way)
// may lead elsewhere inside its scripts folder, never out of it.
func (r *requirer) find(name string) (code, chunk string, err error) {
	rel := strings.ReplaceAll(name, ".", "/") + ".lua"
	for _, dir := range r.dirs {
		b, err := readInside(dir, rel)
		if err == nil {
			return string(b), rel, nil
		}
		if errors.Is(err, errOutside) {
			return "", "", fmt.Errorf("require %q: %s leads outside the scripts folder %s (through a symbolic link); modules must lie inside it", name, rel, dir)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("require %q: %w", name, err)
		}
	}
	b, err := fs.ReadFile(scripts.FS, rel)
	if err == nil {
		return string(b), rel, nil
	}
	return "", "", fmt.Errorf("require: module %q not found: looked for %s in %s", name, rel, searched(r.dirs))
}

// errOutside is a path that leads out of its folder.
var errOutside = errors.New("outside the folder")

// readInside reads the file rel inside dir, following symbolic links only
// while they stay inside dir. A missing dir is as a missing file.
func readInside(dir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, fs.ErrNotExist
		}
		return nil, err
	}
	defer root.Close()
	b, err := fs.ReadFile(root.FS(), rel)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// os.Root refused it: say so if a link leads out.
		real, rerr := filepath.EvalSymlinks(filepath.Join(dir, rel))
		top, terr := filepath.EvalSymlinks(dir)
		if rerr == nil && terr == nil {
			if up, perr := filepath.Rel(top, real); perr != nil || !filepath.IsLocal(up) {
				return nil, errOutside
			}
		}
	}
	return b, err
}

// luaRequire is require(name), limited to the scripts folders.
func (s *Session) luaRequire(L *glua.LState) int {
	name := L.CheckString(1)
	if !moduleName.MatchString(name) {
		L.RaiseError("require: invalid module name %q: use names such as lib.spread (letters, digits, _ and -, separated by dots); modules load only from the scripts folders", name)
	}
	r := s.require
	if v, ok := r.loaded[name]; ok {
		if v == nil {
			L.RaiseError("require: module %q requires itself (a loop)", name)
		}
		L.Push(v)
		return 1
	}
	code, chunk, err := r.find(name)
	if err != nil {
		L.RaiseError("%v", err)
	}
	fn, err := s.compileChunk(code, chunk)
	if err != nil {
		L.RaiseError("require: %v", err)
	}
	// While it loads, a require of it from inside is a loop; if loading
	// fails, the module is forgotten, so that a later require tries again.
	r.loaded[name] = nil
	loaded := false
	defer func() {
		if !loaded {
			delete(r.loaded, name)
		}
	}()
	L.Push(fn)
	L.Push(glua.LString(name))
	L.Call(1, 1)
	v := L.Get(-1)
	L.Pop(1)
	if v == glua.LNil {
		v = glua.LTrue
	}
	r.loaded[name], loaded = v, true
	L.Push(v)
	return 1
}
