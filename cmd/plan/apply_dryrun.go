// This file holds what `plan apply -dry-run` reports once the preflight
// passed: per step, whether a real apply would run it or skip it as up to
// date, and the exit status -detailed-exitcode gives that.
package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/runner"
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
}

// dryRunReport prints what a real apply would do and returns the exit
// status: 0, or with -detailed-exitcode 2 when some step would run.
func (c *applyCommand) dryRunReport(res *runner.Result, red *runner.Redactor) int {
	m := c.meta
	var changes []plannedChange
	run := 0
	for i, s := range res.Graph.Steps {
		ch := plannedChange{Step: s.Addr, Action: "run"}
		if why := res.Skipped[i]; why != "" {
			ch.Action, ch.Reason = "skip", red.String(why)
		} else {
			run++
		}
		changes = append(changes, ch)
	}
	const passed = "Preflight passed: Docker, containers, images and nginx are ready. Nothing was changed (-dry-run)."
	total := fmt.Sprintf("%d to run, %d up to date.", run, len(changes)-run)
	if res.NothingToDo {
		total = "Nothing to do: every step is already in the plan's state."
	}
	if c.view != nil {
		for _, ch := range changes {
			msg := ch.Step + ": will run"
			if ch.Action == "skip" {
				msg = ch.Step + ": already up to date, will be skipped (" + ch.Reason + ")"
			}
			c.view.message("info", msgPlannedChange, msg, time.Time{}, map[string]any{"change": ch})
		}
		c.view.log("info", passed+" "+total)
	} else {
		fmt.Fprintln(m.stdout, "\nWhat apply would do:")
		tw := tabwriter.NewWriter(m.stdout, 0, 0, 2, ' ', 0)
		for _, ch := range changes {
			if ch.Action == "skip" {
				fmt.Fprintf(tw, "  %s\talready up to date: will be skipped (%s)\n", ch.Step, ch.Reason)
			} else {
				fmt.Fprintf(tw, "  %s\twill run\n", ch.Step)
			}
		}
		_ = tw.Flush()
		fmt.Fprintln(m.stdout, "\n"+passed+"\n"+total)
	}
	if c.detailed && !res.NothingToDo {
		return exitPending
	}
	return exitOK
}
