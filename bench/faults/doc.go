// Package faults is mqsh's fault campaign. Its tests build the mqsh binary,
// start bulk operations (retry, cancel, Lua scripts, imports, batch files) as real
// processes on a real queue file, kill them with SIGKILL at random moments,
// and check what a crash must never do: damage the file, leave a change half
// applied, or leave the audit log out of step with the data. Another test runs
// several writer processes at once and checks that nothing is lost and no
// process fails with "database is locked".
//
// A short campaign runs with `go test ./...`; `MQSH_FAULTS=500 go test
// ./bench/faults/ -run Campaign -v` runs a long one (see BENCHMARKS.md).
// The package has no code of its own besides its tests.
package faults
