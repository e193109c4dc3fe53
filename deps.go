//go:build tools

package main

import (
	_ "github.com/chzyer/readline"
	_ "github.com/creack/pty"
	_ "github.com/google/shlex"
	_ "github.com/jedib0t/go-pretty/v6/table"
	_ "github.com/mattn/go-isatty"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/spf13/pflag"
	_ "github.com/yuin/gopher-lua"
)
