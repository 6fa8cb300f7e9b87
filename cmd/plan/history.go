// This file holds `plan history`: the applies and rollbacks of a plan, as
// runner appended them to history.jsonl in its state folder, newest
// first; or one of them in full.
package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/posener/complete"

	"github.com/nonstop-deploy/nonstop/internal/runner"
)

type historyCommand struct {
	meta     *meta
	asJSON   bool
	n        int
	stateDir string
}

func (c *historyCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("history", true)
	fs.BoolVar(&c.asJSON, "json", false, "the machine-readable stream: version, then a history_record message a record")
	fs.IntVar(&c.n, "n", 0, "only the `N` newest records (0: all)")
	fs.StringVar(&c.stateDir, "state-dir", "", "state folder `DIR`")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *historyCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *historyCommand) AutocompleteArgs() complete.Predictor { return planPath }

// Synopsis implements cli.Command.
func (c *historyCommand) Synopsis() string { return "List the applies and rollbacks of a plan" }

// Help implements cli.Command.
func (c *historyCommand) Help() string {
	return commandHelp(c, "[ID] PATH", `
  Lists every apply and rollback of the plan at PATH, newest first: when,
  who, from which git commit ("+dirty": the tree had changes not
  committed), how it ended and how long it took. With an ID (or the start
  of one), shows that record in full: variables (sensitive ones hidden),
  the images the deploy steps put in place (by digest), each step's
  status and time, and the -watch counts.

  Every apply (not -dry-run) and every rollback that acts appends one
  record to history.jsonl in the state folder (.nonstop/ next to the plan).
  Nothing ever removes records: the file grows until you move it.

Options:
  -json           The machine-readable stream: a version message, then one
                  history_record message a record, newest first (with ID: that
                  record alone).
  -n N            Only the N newest records.
  -state-dir DIR  Where the history is (default: .nonstop/ next to the
                  plan; with state = nginx.NAME, on that nginx's
                  container).
  -var NAME=VALUE Set a variable, as for apply: needed only when the
                  plan's state is on its target and the nginx block that
                  holds it uses variables.
  -var-file FILE  Read variables from an HCL or JSON file, as for apply.
  -no-color       No colour or other terminal escapes.

Exit status: 0; 1 when the history cannot be read or ID matches no
record (or more than one).

Examples:
  plan history plans/rolling-update.hcl
  plan history -n 5 plans/rolling-update.hcl
  plan history 20261127T1012 plans/rolling-update.hcl
  plan history -json plans/rolling-update.hcl | jq -r 'select(.type == "history_record" and .record.outcome != "applied") | .record.id'
`)
}

// Run implements cli.Command.
func (c *historyCommand) Run(args []string) int {
	m := c.meta
	fs := c.flags()
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	var id, path string
	switch fs.NArg() {
	case 1:
		path = fs.Arg(0)
	case 2:
		id, path = fs.Arg(0), fs.Arg(1)
	default:
		fmt.Fprintf(m.stderr, "Error: plan history takes a PATH (a plan file or a folder of *.hcl files), and optionally an ID before it; got %d arguments.\nRun \"plan history -help\" for usage.\n", fs.NArg())
		return exitError
	}
	if c.n < 0 {
		fmt.Fprintf(m.stderr, "Error: -n %d: give a number of records, 1 or more (0 for all).\n", c.n)
		return exitError
	}
	snap, done, err := m.snapshot(path, c.stateDir)
	var records []runner.HistoryRecord
	if err == nil {
		defer done()
		records, err = runner.ReadHistory(snap.Dir)
	}
	if err != nil {
		if c.asJSON {
			newJSONView(m.stdout).error(err)
			return exitError
		}
		fmt.Fprintf(m.stderr, "Error: %s\n", err)
		return exitError
	}
	if id != "" {
		r, err := runner.FindHistory(records, id)
		if err != nil {
			err = fmt.Errorf("%w. Run \"plan history %s\" for the IDs", err, path)
			if c.asJSON {
				newJSONView(m.stdout).error(err)
				return exitError
			}
			fmt.Fprintf(m.stderr, "Error: %s.\n", err)
			return exitError
		}
		if c.asJSON {
			historyJSON(m.stdout, []runner.HistoryRecord{*r})
			return exitOK
		}
		showHistoryRecord(m.stdout, *r)
		return exitOK
	}
	// Newest first; -n keeps the newest.
	var list []runner.HistoryRecord
	for i := len(records) - 1; i >= 0 && (c.n == 0 || len(list) < c.n); i-- {
		list = append(list, records[i])
	}
	if c.asJSON {
		historyJSON(m.stdout, list)
		return exitOK
	}
	if len(list) == 0 {
		fmt.Fprintln(m.stdout, "No applies recorded for this plan.")
		return exitOK
	}
	tw := tabwriter.NewWriter(m.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tWHEN (UTC)\tUSER\tCOMMIT\tOUTCOME\tDURATION")
	for _, r := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Started.UTC().Format("2006-01-02 15:04:05"),
			orDash(r.User), gitShort(r.Git), r.Outcome, fmtDuration(r.Duration()))
	}
	_ = tw.Flush()
	return exitOK
}

// showHistoryRecord writes one record in full.
func showHistoryRecord(w io.Writer, r runner.HistoryRecord) {
	title := "Apply"
	if r.Kind == runner.KindRollback {
		title = "Rollback"
	}
	fmt.Fprintf(w, "%s %s\n", title, r.ID)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "  %s:\t%s\n", k, v)
		}
	}
	if r.ApplyID != "" {
		line("of apply", r.ApplyID)
	}
	line("outcome", fmt.Sprintf("%s (exit %d)", r.Outcome, r.ExitCode))
	line("cause", r.Cause)
	line("started", r.Started.UTC().Format("2006-01-02 15:04:05.000 UTC"))
	line("finished", r.Finished.UTC().Format("2006-01-02 15:04:05.000 UTC")+" ("+fmtDuration(r.Duration())+")")
	who := r.User
	if r.Host != "" {
		who += " on " + r.Host
	}
	line("by", who)
	plan := r.Plan
	if r.PlanHash != "" {
		plan += " (hash " + r.PlanHash + ")"
	}
	line("plan", strings.TrimSpace(plan))
	if r.Git != nil {
		g := r.Git.Commit
		if r.Git.Dirty {
			g += " (dirty: the tree had changes not committed)"
		}
		line("git commit", g)
	} else {
		line("git commit", "- (not in a git tree)")
	}
	_ = tw.Flush()
	if len(r.Variables) > 0 {
		fmt.Fprintln(w, "\nVariables:")
		tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		for _, v := range r.Variables {
			src := ""
			if v.Source != "" {
				src = "\t(" + v.Source + ")"
			}
			fmt.Fprintf(tw, "  %s\t= %s%s\n", v.Name, v.Value, src)
		}
		_ = tw.Flush()
	}
	if len(r.Images) > 0 {
		fmt.Fprintln(w, "\nImages:")
		for _, im := range r.Images {
			fmt.Fprintf(w, "  %s: %s\n", im.Step, imageLine(im))
		}
	}
	if len(r.Steps) > 0 {
		fmt.Fprintln(w, "\nSteps:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range r.Steps {
			if r.Kind == runner.KindApply {
				fmt.Fprintf(tw, "  %s\t%s\t%.1fs\n", s.Step, s.Status, s.ElapsedS)
			} else {
				fmt.Fprintf(tw, "  %s\t%s\n", s.Step, s.Status) // a rollback's steps are not timed
			}
		}
		_ = tw.Flush()
	}
	if len(r.Watch) > 0 {
		fmt.Fprintln(w, "\nWatch:")
		for _, s := range r.Watch {
			fmt.Fprintf(w, "  %s: %d requests during the steps, %d failed\n", s.URL, s.Requests, s.Failed)
		}
	}
}

// imageLine says what a step put in place, and what it replaced.
func imageLine(im runner.ImageChange) string {
	var b strings.Builder
	if im.Container != "" {
		fmt.Fprintf(&b, "container %s ", im.Container)
	}
	b.WriteString("now runs " + im.Image)
	if im.ImageDigest != "" {
		b.WriteString(" (" + im.ImageDigest + ")")
	}
	if im.OldContainer != "" {
		fmt.Fprintf(&b, ", replacing container %s", shortID(im.OldContainer))
		switch {
		case im.OldImage != "" && im.OldImageID != "":
			fmt.Fprintf(&b, " on %s (%s)", im.OldImage, im.OldImageID)
		case im.OldImageID != "":
			fmt.Fprintf(&b, " on %s", im.OldImageID)
		}
	}
	if im.Undone {
		b.WriteString("; undone: the old container is back")
	}
	return b.String()
}

// gitShort is a commit for the table: 12 hex digits, "+dirty" when the
// tree had changes.
func gitShort(g *runner.GitInfo) string {
	if g == nil || g.Commit == "" {
		return "-"
	}
	s := shortID(g.Commit)
	if g.Dirty {
		s += "+dirty"
	}
	return s
}

func shortID(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fmtDuration rounds to what a reader compares: tenths of a second.
func fmtDuration(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.Round(100 * time.Millisecond).String()
}

// watchCounts are the -watch counts for the history record; the watch is
// stopped first (stop is idempotent), so they are final.
func watchCounts(w *watcher) []runner.WatchCount {
	w.stop()
	var out []runner.WatchCount
	for _, s := range w.summaries() {
		out = append(out, runner.WatchCount{URL: s.URL, Requests: s.Requests, Failed: s.Failed})
	}
	return out
}

// historyJSON writes records as the machine-readable stream every -json
// command writes: the version message, then one history_record message a
// record (newest first), the record itself under "record".
func historyJSON(w io.Writer, records []runner.HistoryRecord) {
	v := newJSONView(w)
	for _, r := range records {
		v.message("info", msgHistoryRecord, fmt.Sprintf("%s %s %s: %s", r.Kind, r.ID, r.Started.UTC().Format(time.RFC3339), r.Outcome),
			time.Time{}, map[string]any{"record": r})
	}
}
