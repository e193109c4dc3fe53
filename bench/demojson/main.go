// Command demojson writes generated queue messages as JSON Lines for the
// whole-process benchmarks in bench/ (see bench/bulk.sh):
//
//	go run ./bench/demojson -n 100000 -o /tmp/mqsh-bench/bulk/100k.jsonl
//
// The messages are the engine's generated demo messages (seed 42, clock
// 2026-01-15T12:00:00Z), as the engine benchmarks use.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"mqsh/queue"
)

func main() {
	n := flag.Int("n", 100000, "messages to write")
	out := flag.String("o", "", "output file (required)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "demojson: give the output file with -o")
		os.Exit(2)
	}
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	if err := queue.WriteDemoJSON(*out, *n, 42, now); err != nil {
		fmt.Fprintln(os.Stderr, "demojson:", err)
		os.Exit(1)
	}
}
