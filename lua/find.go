package lua

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"mqsh/scripts"
)

// ScriptsEnv is the environment variable that replaces the default scripts
// folders: a list separated by colons (semicolons on Windows).
const ScriptsEnv = "MQSH_SCRIPTS"

// DefaultScriptDirs returns where scripts are looked for by name, in order:
// the folders of $MQSH_SCRIPTS when it is set, otherwise ./scripts and then the
// per-user folder ($XDG_CONFIG_HOME/mqsh/scripts, by default
// ~/.config/mqsh/scripts). The scripts shipped with mqsh come after these.
func DefaultScriptDirs(getenv func(string) string) []string {
	if v := getenv(ScriptsEnv); v != "" {
		var dirs []string
		for _, d := range filepath.SplitList(v) {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
		return dirs
	}
	dirs := []string{"scripts"}
	if cfg := getenv("XDG_CONFIG_HOME"); cfg != "" {
		dirs = append(dirs, filepath.Join(cfg, "mqsh", "scripts"))
	} else if home := getenv("HOME"); home != "" {
		dirs = append(dirs, filepath.Join(home, ".config", "mqsh", "scripts"))
	}
	return dirs
}

// Script is a script found by Find.
type Script struct {
	Name string // shown in errors, the audit log and the summary: "purge-sender.lua"
	Path string // the file it was read from; "" for a built-in script
	Code string
}

// Find locates a script: by path when a file of that name exists (or the name
// contains a path separator), else by name, with or without .lua, in dirs in
// order, and last among the scripts shipped with mqsh.
func Find(name string, dirs []string) (Script, error) {
	if name == "" {
		return Script{}, fmt.Errorf("%w: no script named", ErrNotFound)
	}
	isPath := strings.ContainsRune(name, '/') || strings.ContainsRune(name, filepath.Separator)
	if st, err := os.Stat(name); err == nil && !st.IsDir() {
		return readScript(name)
	} else if isPath {
		if err == nil {
			return Script{}, fmt.Errorf("%w: %s is a folder, not a script", ErrNotFound, name)
		}
		return Script{}, fmt.Errorf("%w: %s: %v", ErrNotFound, name, errors.Unwrap(err))
	}
	for i, fsys := range folders(dirs) {
		for _, n := range candidates(name) {
			if !fs.ValidPath(n) {
				continue
			}
			if st, err := fs.Stat(fsys, n); err != nil || st.IsDir() {
				continue
			}
			if i < len(dirs) {
				return readScript(filepath.Join(dirs[i], n))
			}
			b, err := fs.ReadFile(fsys, n)
			if err != nil {
				return Script{}, fmt.Errorf("read built-in script %s: %w", n, err)
			}
			return Script{Name: n, Code: string(b)}, nil
		}
	}
	return Script{}, fmt.Errorf("%w: %q is not a file and not in %s (the scripts command lists them)", ErrNotFound, name, searched(dirs))
}

// folders are where scripts and their modules are looked for, in order: the
// scripts folders dirs, then the scripts built into mqsh.
func folders(dirs []string) []fs.FS {
	out := make([]fs.FS, 0, len(dirs)+1)
	for _, d := range dirs {
		out = append(out, os.DirFS(d))
	}
	return append(out, scripts.FS)
}

// searched names the folders looked in, for error messages.
func searched(dirs []string) string {
	return strings.Join(append(append([]string{}, dirs...), "the built-in scripts"), ", ")
}

func candidates(name string) []string {
	if strings.HasSuffix(name, ".lua") {
		return []string{name}
	}
	return []string{name + ".lua", name}
}

func readScript(p string) (Script, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return Script{}, fmt.Errorf("read script: %w", err)
	}
	return Script{Name: filepath.Base(p), Path: p, Code: string(b)}, nil
}

// Names lists the scripts that can be run by name, without .lua, sorted and
// without duplicates: those in dirs and the built-in ones. Helper modules in
// sub-folders are not listed. The shell's completer offers these.
func Names(dirs []string) []string {
	set := map[string]bool{}
	for _, fsys := range folders(dirs) {
		ents, err := fs.ReadDir(fsys, ".")
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".lua") {
				set[strings.TrimSuffix(e.Name(), ".lua")] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Describe returns the first line of a script's header comment (its purpose),
// or "" when it has none: what `run --list` shows next to each name.
func Describe(code string) string {
	for _, line := range strings.Split(code, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#!") || line == "--" {
			continue
		}
		if !strings.HasPrefix(line, "--") {
			return ""
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "-"))
		if text == "" {
			continue
		}
		// "name.lua: purpose" -> "purpose"
		if i := strings.Index(text, ".lua: "); i >= 0 && !strings.Contains(text[:i], " ") {
			text = text[i+len(".lua: "):]
		}
		return text
	}
	return ""
}
