package queue

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Checks the engine applies to what any caller hands it (the command line,
// batch files, Lua scripts, imports, and later the HTTP API): each front end
// may check earlier for a friendlier message, but none can skip these.

// checkPrintable refuses a control character (C0, DEL or C1) in a pattern,
// address or domain name. SQLite ends a GLOB or LIKE pattern at a NUL, so
// "*\x00@nobody.invalid" would match every address; no address holds one.
func checkPrintable(s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			continue
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U at byte %d: patterns and addresses must be printable text", r, i)
		}
	}
	return nil
}
