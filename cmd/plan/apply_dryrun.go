// This file holds what `plan apply -dry-run` reports once the preflight
// passed: per step, whether a real apply would run it or skip it as up to
// date, and the exit status -detailed-exitcode gives that.
package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/runner"
	"github.com/nonstop-deploy/nonstop/steps"
)

// exitPending is -detailed-exitcode's "changes pending", as Terraform's.
const exitPending = 2

// plannedChange is the "change" object of a planned_change message.
type plannedChange struct {
	Step string `json:"step"`
	// Action is "run" (the step would change something) or "skip" (it is
	// already in the plan's state).
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// Items is what the step would change against what runs now (before →
	// after), when its type can tell (steps.Previewer); Error, why it
	// could not be read.
	Items []steps.ChangeItem `json:"items,omitempty"`
	Error string             `json:"error,omitempty"`
}

// line is the change as one line of text, after the step's address.
func (ch plannedChange) line() string {
	if ch.Action == "skip" {
		return "already up to date: will be skipped (" + ch.Reason + ")"
	}
	s := "will run"
	if len(ch.Items) > 0 {
		s += ": " + steps.Change{Items: ch.Items}.String()
	}
	if ch.Error != "" {
		s += " (what it would change could not be read: " + ch.Error + ")"
	}
	return s
}

// dryRunReport prints what a real apply would do and returns the exit
// status: 0, or with -detailed-exitcode 2 when some step would run.
func (c *applyCommand) dryRunReport(res *runner.Result, red *runner.Redactor) int {
	changes, run := plannedChanges(res, red)
	const passed = "Preflight passed: Docker, containers, images and nginx are ready. Nothing was changed (-dry-run)."
	total := fmt.Sprintf("%d to run, %d up to date.", run, len(changes)-run)
	if res.NothingToDo {
		total = "Nothing to do: every step is already in the plan's state."
	}
	if c.view != nil {
		for _, ch := range changes {
			c.view.message("info", msgPlannedChange, ch.Step+": "+ch.line(), time.Time{}, map[string]any{"change": ch})
		}
		c.view.log("info", passed+" "+total)
	} else if c.format == "markdown" {
		printChangesMarkdown(c.meta.stdout, changes)
		fmt.Fprintln(c.meta.stdout, "\n"+passed+" "+total)
	} else {
		c.printChanges(changes)
		fmt.Fprintln(c.meta.stdout, "\n"+passed+"\n"+total)
	}
	if c.detailed && !res.NothingToDo {
		return exitPending
	}
	return exitOK
}

// printChanges prints, per step, what a real apply would do: the dry
// run's report and what the prompt shows before asking.
func (c *applyCommand) printChanges(changes []plannedChange) {
	m := c.meta
	fmt.Fprintln(m.stdout, "\nWhat apply would do:")
	tw := tabwriter.NewWriter(m.stdout, 0, 0, 2, ' ', 0)
	for _, ch := range changes {
		fmt.Fprintf(tw, "  %s\t%s\n", ch.Step, ch.line())
	}
	_ = tw.Flush()
}

// plannedChanges is the Result of a dry run as one plannedChange per step,
// in plan order, sensitive values hidden; run counts the steps that would
// run.
func plannedChanges(res *runner.Result, red *runner.Redactor) (changes []plannedChange, run int) {
	for i, s := range res.Graph.Steps {
		ch := plannedChange{Step: s.Addr, Action: "run"}
		if why := res.Skipped[i]; why != "" {
			ch.Action, ch.Reason = "skip", red.String(why)
		} else {
			run++
			if c := res.Changes[i]; c != nil {
				for _, it := range c.Items {
					it.Before, it.After = red.String(it.Before), red.String(it.After)
					ch.Items = append(ch.Items, it)
				}
			}
			if err := res.ChangeErrors[i]; err != nil {
				ch.Error = red.String(err.Error())
			}
		}
		changes = append(changes, ch)
	}
	return changes, run
}

// printChangesMarkdown is the changes as a markdown table, for a pull
// request comment: one row per step, each change on its own line.
func printChangesMarkdown(w io.Writer, changes []plannedChange) {
	cell := func(s string) string {
		return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
	}
	fmt.Fprint(w, "\n### What apply would do\n\n")
	fmt.Fprintln(w, "| Step | Action | Change |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, ch := range changes {
		var what []string
		switch ch.Action {
		case "skip":
			what = append(what, "already up to date: "+ch.Reason)
		default:
			for _, it := range ch.Items {
				what = append(what, "`"+it.What+"` "+it.Before+" → "+it.After)
			}
			if ch.Error != "" {
				what = append(what, "could not be read: "+ch.Error)
			}
		}
		for i := range what {
			what[i] = cell(what[i])
		}
		fmt.Fprintf(w, "| `%s` | %s | %s |\n", ch.Step, ch.Action, strings.Join(what, "<br>"))
	}
}
