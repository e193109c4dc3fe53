package repl

import (
	"strings"
	"sync"
)

// Commands returns the command table: the queue commands, the Lua commands, the
// shell-only commands and help. It drives the command line, the shell, help,
// completion and the README's command reference. It is built once; callers
// must not change it.
func Commands() []*Command { return commandTable() }

// commandTable builds the table on first use (set in init: the help command
// refers back to Commands, which a package-level initialiser cannot).
var commandTable func() []*Command

func init() { commandTable = sync.OnceValue(buildCommands) }

func buildCommands() []*Command {
	var cmds []*Command
	cmds = append(cmds, queueCommands()...)
	cmds = append(cmds, luaCommands()...)
	cmds = append(cmds, serveCommand())
	cmds = append(cmds, shellCommands()...)
	cmds = append(cmds, helpCommand())
	return cmds
}

// The flags shared by several commands, declared once.
var (
	flagFormat = Flag{Long: "format", Short: "o", Value: "FORMAT", Kind: KindFormat, Default: "table",
		Values: messageFormats, Help: "Output format: table, json, csv or ids"}
	flagReportFormat = Flag{Long: "format", Short: "o", Value: "FORMAT", Kind: KindFormat, Default: "table",
		Values: reportFormats, Help: "Output format: table, json or csv"}
	flagStatus = Flag{Long: "status", Value: "STATUS", Kind: KindText, Values: statusWords,
		Help: "Filter by recipient status: scheduled, delivered, tempfail, permfail (comma-separated)"}
	flagCreatedBefore = Flag{Long: "created-before", Value: "TIME", Kind: KindTime,
		Help: "Filter messages created before a certain datetime"}
	flagCreatedAfter = Flag{Long: "created-after", Value: "TIME", Kind: KindTime,
		Help: "Filter messages created after a certain datetime"}
	flagAll = Flag{Long: "all",
		Help: "Apply to every message (required when neither ids nor filters are given)"}
	flagDryRun = Flag{Long: "dry-run",
		Help: "Show what would change (count, domains, first rows) and change nothing"}
)

// The filter flags of list and summary, in stalwart-cli's words (retry and
// cancel say "Apply to ..." instead).
var (
	flagSender = Flag{Long: "sender", Short: "s", Value: "SENDER", Kind: KindSender, Help: "Filter by sender address"}
	flagRcpt   = Flag{Long: "rcpt", Short: "r", Value: "RCPT", Kind: KindRecipient, Help: "Filter by recipient"}
	flagBefore = Flag{Long: "before", Short: "b", Value: "BEFORE", Kind: KindTime, Help: "Filter messages due for delivery before a certain datetime"}
	flagAfter  = Flag{Long: "after", Short: "a", Value: "AFTER", Kind: KindTime, Help: "Filter messages due for delivery after a certain datetime"}
	flagDomain = Flag{Long: "domain", Short: "d", Value: "DOMAIN", Kind: KindDomain, Help: "Filter by recipient domain"}
)

// The filter flags shared by retry and cancel, in stalwart-cli's words.
var (
	flagApplySender = Flag{Long: "sender", Short: "s", Value: "SENDER", Kind: KindSender, Help: "Apply to messages matching a sender address"}
	flagApplyBefore = Flag{Long: "before", Short: "b", Value: "BEFORE", Kind: KindTime, Help: "Apply to messages due before a certain datetime"}
	flagApplyAfter  = Flag{Long: "after", Short: "a", Value: "AFTER", Kind: KindTime, Help: "Apply to messages due after a certain datetime"}
)

// Formats of the commands that print messages.
var (
	messageFormats = []string{"table", "json", "csv", "ids"}
	reportFormats  = []string{"table", "json", "csv"}
	statusWords    = []string{"scheduled", "delivered", "tempfail", "permfail"}
	summaryGroups  = []string{"domain", "sender", "status", "age"}
)

func queueCommands() []*Command {
	idsHelp := "Message ids in hex; - reads them from standard input, one per line"
	idsArg := Arg{Name: "IDS", Repeat: true, Kind: KindID, Help: idsHelp}
	return []*Command{
		{
			Path:    []string{"queue"},
			Summary: "Manage SMTP message queue",
			Args:    []Arg{{Name: "COMMAND", Repeat: true, Kind: KindCommand}},
			NoQueue: true,
			Run:     runQueueGroup,
		},
		{
			Path:    []string{"queue", "list"},
			Summary: "Shows messages queued for delivery",
			Flags: []Flag{
				flagSender,
				flagRcpt,
				flagBefore,
				flagAfter,
				{Long: "page-size", Short: "p", Value: "PAGE_SIZE", Kind: KindNumber, Help: "Number of items to show per page"},
				flagDomain,
				flagStatus,
				flagCreatedBefore,
				flagCreatedAfter,
				flagFormat,
			},
			Args: []Arg{idsArg},
			Run:  runList,
		},
		{
			Path:    []string{"queue", "status"},
			Summary: "Displays details about a queued message",
			Flags:   []Flag{flagFormat},
			Args:    []Arg{{Name: "IDS", Required: true, Repeat: true, Kind: KindID, Help: idsHelp}},
			Run:     runStatus,
		},
		{
			Path:    []string{"queue", "retry"},
			Summary: "Reschedule delivery",
			Flags: []Flag{
				flagApplySender,
				{Long: "domain", Short: "d", Value: "DOMAIN", Kind: KindDomain, Help: "Apply to a specific domain"},
				flagApplyBefore,
				flagApplyAfter,
				{Long: "time", Short: "t", Value: "TIME", Kind: KindTime, Help: "Schedule delivery at a specific time"},
				{Long: "rcpt", Short: "r", Value: "RCPT", Kind: KindRecipient, Help: "Apply to messages with a matching recipient"},
				flagStatus,
				flagCreatedBefore,
				flagCreatedAfter,
				flagAll,
				flagDryRun,
				flagFormat,
			},
			Args: []Arg{idsArg},
			Run:  runRetry,
		},
		{
			Path:    []string{"queue", "cancel"},
			Summary: "Cancel delivery",
			Flags: []Flag{
				flagApplySender,
				{Long: "rcpt", Short: "r", Value: "RCPT", Kind: KindRecipient, Help: "Apply to specific recipients or domains"},
				{Long: "domain", Short: "d", Value: "DOMAIN", Kind: KindDomain, Help: "Apply to the recipients of a specific domain"},
				flagApplyBefore,
				flagApplyAfter,
				flagStatus,
				flagCreatedBefore,
				flagCreatedAfter,
				flagAll,
				flagDryRun,
				flagFormat,
			},
			Args: []Arg{idsArg},
			Run:  runCancel,
		},
		{
			Path:    []string{"queue", "summary"},
			Summary: "Counts and sizes grouped by domain, sender, status or age",
			Flags: []Flag{
				{Long: "by", Value: "BY", Kind: KindText, Default: "domain", Values: summaryGroups, Help: "Group by domain, sender, status or age"},
				flagSender,
				flagRcpt,
				flagDomain,
				flagBefore,
				flagAfter,
				flagStatus,
				flagCreatedBefore,
				flagCreatedAfter,
				flagReportFormat,
			},
			Args: []Arg{idsArg},
			Run:  runSummary,
		},
		{
			Path:    []string{"queue", "raw"},
			Summary: "Prints the stored RFC 5322 text of a message",
			Args:    []Arg{{Name: "ID", Required: true, Kind: KindID, Help: "Message id in hex"}},
			Run:     runRaw,
		},
		{
			Path:    []string{"queue", "add"},
			Creates: true,
			Summary: "Queues one message read from a file or standard input",
			Flags: []Flag{
				{Long: "sender", Short: "s", Value: "SENDER", Kind: KindSender, Help: "Envelope sender (<> for a bounce; default: from the headers)"},
				{Long: "rcpt", Short: "r", Value: "RCPT", Kind: KindRecipient, Repeat: true, Help: "Envelope recipient; repeat for more (default: from the headers)"},
				{Long: "env-id", Value: "ENV_ID", Kind: KindText, Help: "DSN envelope id"},
				{Long: "priority", Value: "PRIORITY", Kind: KindNumber, Help: "Message priority"},
			},
			Args: []Arg{{Name: "FILE", Required: true, Kind: KindFile, Help: "The RFC 5322 message; - reads it from standard input"}},
			Run:  runAdd,
		},
		{
			Path:    []string{"queue", "import"},
			Creates: true,
			Summary: "Imports messages from JSON Lines or .eml files",
			Flags: []Flag{
				{Long: "sender", Short: "s", Value: "SENDER", Kind: KindSender, Help: "Envelope sender of .eml files (default: from the headers)"},
				{Long: "rcpt", Short: "r", Value: "RCPT", Kind: KindRecipient, Repeat: true, Help: "Envelope recipient of .eml files; repeat for more (default: from the headers)"},
				{Long: "env-id", Value: "ENV_ID", Kind: KindText, Help: "DSN envelope id of .eml files"},
			},
			Args: []Arg{{Name: "FILE", Required: true, Repeat: true, Kind: KindFile, Help: "A .eml message, or JSON Lines in the Stalwart message shape (- for standard input)"}},
			Run:  runImport,
		},
		{
			Path:    []string{"queue", "demo"},
			Creates: true,
			Summary: "Loads the documented demo messages plus N generated ones",
			Flags: []Flag{
				{Long: "seed", Value: "SEED", Kind: KindNumber, Default: "1", Help: "Seed of the generated messages"},
			},
			Args: []Arg{{Name: "N", Kind: KindNumber, Help: "How many messages to generate besides the documented six [default: 0]"}},
			Run:  runDemo,
		},
		{
			Path:    []string{"queue", "audit"},
			Summary: "Shows the audit log of changes, newest first",
			Flags: []Flag{
				{Long: "since", Value: "TIME", Kind: KindTime, Help: "Only changes made after a certain datetime"},
				{Long: "verb", Value: "VERB", Kind: KindText, Help: "Only changes made by this verb (retry, cancel, import ...)"},
				{Long: "limit", Short: "n", Value: "N", Kind: KindNumber, Default: "20", Help: "Number of entries to show (0 for all)"},
				flagReportFormat,
			},
			Run: runAudit,
		},
	}
}

func helpCommand() *Command {
	return &Command{
		Path:    []string{"help"},
		Summary: "Print this message or the help of the given subcommand(s)",
		Args:    []Arg{{Name: "COMMAND", Repeat: true, Kind: KindCommand, Help: "The command to explain"}},
		NoQueue: true,
		Run:     runHelp,
	}
}

// Name is the command's words joined by spaces: "queue list".
func (c *Command) Name() string { return strings.Join(c.Path, " ") }
