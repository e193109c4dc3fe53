package repl

import (
	"strings"
	"sync"
	"time"

	"mqsh/queue"
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
	cmds = append(cmds, auditCommands()...)
	cmds = append(cmds, trashCommands()...)
	cmds = append(cmds, undoCommand(), exportCommand())
	cmds = append(cmds, pauseCommands()...)
	cmds = append(cmds, holdCommands()...)
	cmds = append(cmds, explainCommand(), topCommand())
	cmds = append(cmds, luaCommands()...)
	cmds = append(cmds, serveCommand())
	cmds = append(cmds, copyCommand())
	cmds = append(cmds, shellCommands()...)
	cmds = append(cmds, helpCommand())
	return cmds
}

// The flags shared by several commands, declared once.
var (
	flagFormat = Flag{Long: "format", Short: "o", Value: "FORMAT", Kind: KindFormat, Default: "table",
		Values: messageFormats, Help: "Output format: table, json, csv or ids"}
	flagListFormat = Flag{Long: "format", Short: "o", Value: "FORMAT", Kind: KindFormat, Default: "table",
		Values: listFormats, Help: "Output format: table, wide (adds created, age, held and each recipient's last reply), json, csv or ids"}
	flagReportFormat = Flag{Long: "format", Short: "o", Value: "FORMAT", Kind: KindFormat, Default: "table",
		Values: reportFormats, Help: "Output format: table, json or csv"}
	flagDryRun = Flag{Long: "dry-run",
		Help: "Show what would change (count, domains, first rows) and change nothing"}
)

// The filter flags come from the table of filter keys (queue.FilterKeys),
// with its help, which is in stalwart-cli's words for list and summary;
// retry and cancel say "Apply to ..." instead.
var (
	flagApplySender = applyFlag(queue.KeySender, "Apply to messages matching a sender address")
	flagApplyBefore = applyFlag(queue.KeyDueBefore, "Apply to messages due before a certain datetime")
	flagApplyAfter  = applyFlag(queue.KeyDueAfter, "Apply to messages due after a certain datetime")
)

// keyFlag is the flag of a filter key, as the table declares it.
func keyFlag(k *queue.FilterKey) Flag {
	f := Flag{Long: k.Flag, Short: k.Short, Value: k.Value, Help: k.Help, Values: k.Values, Filter: k}
	// A key of several values takes its flag again for each (-s a -s b: either).
	_, f.Repeat = k.Field.(queue.Field[[]string])
	switch {
	case k.Suggest == queue.SuggestSender:
		f.Kind = KindSender
	case k.Suggest == queue.SuggestRecipient:
		f.Kind = KindRecipient
	case k.Suggest == queue.SuggestDomain:
		f.Kind = KindDomain
	case k.Value == "":
		f.Kind = KindNone
	default:
		if _, isTime := k.Field.(queue.Field[time.Time]); isTime {
			f.Kind = KindTime
		} else {
			f.Kind = KindText
		}
	}
	return f
}

// applyFlag is the flag of a filter key with the help a command words for it.
func applyFlag(k *queue.FilterKey, help string) Flag {
	f := keyFlag(k)
	f.Help = help
	return f
}

// selectFlags lays out the flags of a command that selects messages by the
// filter: flags in the order given, then the flag of every filter key they
// leave out (all only when change is set: the command changes messages), so
// that a new filter key reaches list, retry, cancel and summary alike.
func selectFlags(change bool, flags ...Flag) []Flag {
	placed := map[*queue.FilterKey]bool{}
	for _, f := range flags {
		if f.Filter != nil {
			placed[f.Filter] = true
		}
	}
	for _, k := range queue.FilterKeys {
		if k.Flag != "" && !placed[k] && (change || !k.ChangeOnly) {
			flags = append(flags, keyFlag(k))
		}
	}
	return flags
}

// Formats of the commands that print messages.
var (
	messageFormats = []string{"table", "json", "csv", "ids"}
	listFormats    = []string{"table", "wide", "json", "csv", "ids"}
	reportFormats  = []string{"table", "json", "csv"}
	summaryGroups  = []string{"domain", "sender", "status", "age", "sender-domain"}
)

func queueCommands() []*Command {
	idsHelp := "Message ids in hex; - reads them from standard input, one per line (hex ids or JSON messages)"
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
			Flags: selectFlags(false,
				keyFlag(queue.KeySender),
				keyFlag(queue.KeyRcpt),
				keyFlag(queue.KeyDueBefore),
				keyFlag(queue.KeyDueAfter),
				Flag{Long: "page-size", Short: "p", Value: "PAGE_SIZE", Kind: KindNumber, Help: "Number of items to show per page"},
				keyFlag(queue.KeyDomain),
				keyFlag(queue.KeyStatus),
				keyFlag(queue.KeyCreatedBefore),
				keyFlag(queue.KeyCreatedAfter),
				keyFlag(queue.KeyHeld),
				flagListFormat,
			),
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
			Flags: selectFlags(true,
				flagApplySender,
				applyFlag(queue.KeyDomain, "Apply to a specific domain"),
				flagApplyBefore,
				flagApplyAfter,
				Flag{Long: "time", Short: "t", Value: "TIME", Kind: KindTime, Help: "Schedule delivery at a specific time"},
				Flag{Long: "spread", Value: "DURATION", Kind: KindText, Help: "Pace the release: the domains come due evenly over DURATION from --time (or now), in id order"},
				Flag{Long: "extend-expiry", Value: "DURATION", Kind: KindText, Help: "Move the expiry of the domains retried to DURATION after their new due (never earlier)"},
				applyFlag(queue.KeyRcpt, "Apply to the domains of matching recipients (other domains stay)"),
				keyFlag(queue.KeyStatus),
				keyFlag(queue.KeyCreatedBefore),
				keyFlag(queue.KeyCreatedAfter),
				keyFlag(queue.KeyHeld),
				keyFlag(queue.KeyAll),
				flagDryRun,
				flagFormat,
			),
			Args: []Arg{idsArg},
			Run:  runRetry,
		},
		{
			Path:    []string{"queue", "cancel"},
			Summary: "Cancel delivery",
			Flags: changeFlags("Apply to specific recipients or domains", "Apply to the recipients of a specific domain",
				flagDryRun,
				flagYes,
				flagFormat,
			),
			Args: []Arg{idsArg},
			Run:  runCancel,
		},
		{
			Path:    []string{"queue", "bounce"},
			Summary: "Fail delivery with a failure notice to each sender",
			Flags: selectFlags(true,
				Flag{Long: "reason", Value: "TEXT", Kind: KindText, Help: "What the senders are told (required)"},
				flagApplySender,
				applyFlag(queue.KeyRcpt, "Apply to specific recipients or domains (the others stay)"),
				applyFlag(queue.KeyDomain, "Apply to the recipients of a specific domain (the others stay)"),
				flagApplyBefore,
				flagApplyAfter,
				keyFlag(queue.KeyStatus),
				keyFlag(queue.KeyCreatedBefore),
				keyFlag(queue.KeyCreatedAfter),
				keyFlag(queue.KeyAll),
				flagDryRun,
				flagYes,
				flagFormat,
			),
			Args: []Arg{idsArg},
			Run:  runBounce,
		},
		{
			Path:    []string{"queue", "summary"},
			Summary: "Counts and sizes grouped by domain, sender, status or age",
			Flags: selectFlags(false,
				Flag{Long: "by", Value: "BY", Kind: KindText, Default: "domain", Values: summaryGroups, Help: "Group by domain, sender, status or age; with --shape by domain or sender-domain"},
				Flag{Long: "shape", Help: "qshape's grid: messages per domain by age (minutes), a TOTAL row and column, most first"},
				Flag{Long: "top", Value: "N", Kind: KindNumber, Help: "With --shape, show the N largest rows and fold the rest into one row, other"},
				keyFlag(queue.KeySender),
				keyFlag(queue.KeyRcpt),
				keyFlag(queue.KeyDomain),
				keyFlag(queue.KeyDueBefore),
				keyFlag(queue.KeyDueAfter),
				keyFlag(queue.KeyStatus),
				keyFlag(queue.KeyCreatedBefore),
				keyFlag(queue.KeyCreatedAfter),
				keyFlag(queue.KeyHeld),
				flagReportFormat,
			),
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
				{Long: "force", Help: "Add them even to a queue that holds real mail"},
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

// changeFlags are the flags of a command that changes the messages it
// selects (retry, cancel, bounce, hold, release): the selection, in
// stalwart-cli's order, with -r and -d saying which recipients the change
// is made to (rcptHelp, domainHelp), then the command's own flags, then the
// other filter keys.
func changeFlags(rcptHelp, domainHelp string, own ...Flag) []Flag {
	return selectFlags(true, append([]Flag{
		flagApplySender,
		applyFlag(queue.KeyRcpt, rcptHelp),
		applyFlag(queue.KeyDomain, domainHelp),
		flagApplyBefore,
		flagApplyAfter,
		keyFlag(queue.KeyStatus),
		keyFlag(queue.KeyCreatedBefore),
		keyFlag(queue.KeyCreatedAfter),
		keyFlag(queue.KeyHeld),
		keyFlag(queue.KeyAll),
	}, own...)...)
}
