//go:build !cgo

package queue

// mqsh keeps its queue in SQLite through mattn/go-sqlite3, which is C code
// built with cgo. Without cgo (no C compiler, or CGO_ENABLED=0) that package
// compiles to a stub and this package cannot build; the line below makes the
// first error of such a build say so in a sentence.
var _ int = "mqsh needs cgo and a C compiler (gcc or clang) for SQLite: install one and build with CGO_ENABLED=1"
