// Package scripts holds the Lua policies that ship with mqsh. They are
// embedded in the binary, so `mqsh run NAME` finds them after the scripts
// folders, and each is exercised by a test in this package.
package scripts

import "embed"

// FS holds the shipped scripts (*.lua) and their helper modules (lib/*.lua).
//
//go:embed *.lua lib/*.lua
var FS embed.FS
