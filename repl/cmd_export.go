package repl

import (
	"context"
	"fmt"
	"io"
	"os"

	"mqsh/queue"
)

// `queue export`: a backup that `queue import` restores whole, texts included.

func exportCommand() *Command {
	return &Command{
		Path:    []string{"queue", "export"},
		Summary: "Writes messages with their texts as JSON Lines that queue import restores whole",
		Flags: selectFlags(false,
			Flag{Long: "output", Short: "o", Value: "FILE", Kind: KindFile, Help: "Write to FILE instead of standard output"},
		),
		Args: []Arg{{Name: "IDS", Repeat: true, Kind: KindID, Help: "Message ids in hex; - reads them from standard input, one per line"}},
		Run:  runExport,
	}
}

func runExport(ctx context.Context, env *Env, inv *Invocation) error {
	ex, ok := env.Queue.(queue.Exporter)
	if !ok {
		return fmt.Errorf("the queue at %s cannot export message texts: use queue list -o json, which leaves the texts out", env.Queue.Location())
	}
	f, none, err := viewFilter(env, inv)
	if err != nil {
		return err
	}
	if none {
		fmt.Fprintln(env.Stderr, "Exported 0 message(s).")
		return nil
	}
	var w io.Writer = env.Stdout
	name := inv.Set["output"]
	var file *os.File
	if name != "" && name != "-" {
		if file, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		w = file
	}
	n, err := ex.Export(ctx, f, w)
	if file != nil {
		if cerr := file.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("export: %w", cerr)
		}
		if err != nil {
			os.Remove(name) // no half a backup
		}
	}
	if err != nil {
		return err
	}
	if file != nil {
		fmt.Fprintf(env.Stderr, "Exported %d message(s) to %s.\n", n, name)
	} else {
		fmt.Fprintf(env.Stderr, "Exported %d message(s).\n", n)
	}
	return nil
}
