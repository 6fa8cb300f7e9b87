// This file holds the commands about a plan's state: rollback, status and
// unlock.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/posener/complete"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/runner"
)

// stateDirFor finds the state folder of a plan path without decoding the
// plan (see runner.StateDirFor).
func stateDirFor(path, override string) string { return runner.StateDirFor(path, override) }

type rollbackCommand struct {
	meta            *meta
	stateDir, level string
	lockTimeout     time.Duration
	asJSON          bool
}

func (c *rollbackCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("rollback", true)
	fs.BoolVar(&c.asJSON, "json", false, "JSON lines")
	fs.StringVar(&c.stateDir, "state-dir", "", "state folder `DIR`")
	fs.DurationVar(&c.lockTimeout, "lock-timeout", 0, "wait up to `D` for a held lock")
	fs.StringVar(&c.level, "log-level", "", "operator log level `L`: debug, info, warn or error (default: PLAN_LOG, else warn)")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *rollbackCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *rollbackCommand) AutocompleteArgs() complete.Predictor { return planPath }

// Synopsis implements cli.Command.
func (c *rollbackCommand) Synopsis() string {
	return "Undo what an interrupted or failed apply left in place"
}

// Help implements cli.Command.
func (c *rollbackCommand) Help() string {
	return commandHelp(c, "PATH", `
  Reads the journal of the last apply of the plan at PATH and undoes what it
  left in place: first the steps it was in the middle of when it died (from
  what each recorded right before changing anything, whether or not the
  change went through), then every step it completed and did not undo,
  newest first. Servers drained are put back, containers replaced get their
  old container back. The journal holds everything the undo needs; -var and
  -var-file are accepted, as for apply, and not needed.

  An apply that committed (every step done) and died while removing the
  old containers it kept is never undone: rollback finishes it instead,
  and says so. After a blue/green apply that finished, rollback flips the
  traffic back to the previous colour, starting nothing.

  A lock left by a dead apply is taken over. Ctrl-C stops before the next
  undo and lists what is left; run rollback again to finish.

Options:
  -state-dir DIR   Where the lock and journal are (default: .nonstop/ next
                   to the plan; with state = nginx.NAME, on that nginx's
                   container, and this is the folder of their local copy).
  -var NAME=VALUE  Set a variable, as for apply: needed only when the
                   plan's state is on its target and the nginx block that
                   holds it uses variables.
  -var-file FILE   Read variables from an HCL or JSON file, as for apply.
  -lock-timeout D  Wait up to D (e.g. 5m) for a lock a live apply holds
                   (default 0).
  -log-level L     Operator log on stderr: debug, info, warn, error
                   (default: $PLAN_LOG, else warn).
  -json            Print only JSON lines on stdout, as apply -json: a
                   version message, one message per undo, diagnostics,
                   then a rollback_summary (see docs/cli.md).
  -var name=value  Accepted, as for apply (repeatable); not needed.
  -var-file FILE   Accepted, as for apply (repeatable); not needed.
  -no-color        No colour or other terminal escapes.

Exit status: 0 nothing left to undo, or everything undone; 1 otherwise.

Example:
  plan rollback plans/rolling-update.hcl
`)
}

// Run implements cli.Command.
func (c *rollbackCommand) Run(args []string) int {
	m := c.meta
	fs := c.flags()
	stateDir, lockTimeout, level := &c.stateDir, &c.lockTimeout, &c.level
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	var v *jsonView
	if c.asJSON {
		v = newJSONView(m.stdout)
	}
	path, ok := m.onePathJSON(v, "rollback", fs.Args())
	if !ok {
		return exitError
	}
	log, err := m.logger(m.stderr, *level)
	if err != nil {
		if v != nil {
			v.diag(hcl.DiagError, err.Error(), "")
		} else {
			fmt.Fprintf(m.stderr, "Error: %s.\n", err)
		}
		return exitError
	}
	// Ctrl-C (or SIGTERM) stops before the next undo; what is left is
	// listed, and another rollback finishes it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	events, closeProgress, _ := m.progressPrinter(v, nil)
	home, err := m.stateHome(ctx, path, *stateDir)
	if err != nil {
		closeProgress()
		if v != nil {
			v.error(err)
		} else {
			m.showError(nil, nil, err)
		}
		return exitError
	}
	defer home.Close()
	dir := home.Dir
	res, err := runner.Rollback(ctx, dir, runner.RollbackOptions{
		Steps: m.steps, Log: log, Events: events, LockTimeout: *lockTimeout, Shared: home.Shared})
	closeProgress()
	if err != nil {
		if v != nil {
			v.error(err)
		} else {
			m.showError(nil, nil, err)
		}
		return exitError
	}
	if v != nil {
		return rollbackJSON(v, res, path, home.Where())
	}
	if res.StaleLock != nil {
		fmt.Fprintf(m.stdout, "Took over the lock left by %s, which is no longer running.\n", res.StaleLock)
	}
	if res.Nothing && res.ApplyID == "" {
		// No journal: no apply of this plan ran here (or its state is
		// elsewhere, which -state-dir says).
		fmt.Fprintf(m.stdout, "Nothing to roll back: no apply of this plan has run (no journal in %s).\n", home.Where())
		return exitOK
	}
	if res.Nothing {
		fmt.Fprintf(m.stdout, "Nothing to roll back: the last apply (%s) finished cleanly.\n", res.ApplyID)
		return exitOK
	}
	if res.Committed {
		for _, s := range res.Finished {
			fmt.Fprintf(m.stdout, "finished: %s (what it kept for rollback is removed)\n", s)
		}
		for _, s := range slices.Sorted(maps.Keys(res.Failed)) {
			fmt.Fprintf(m.stderr, "Warning: finishing %s: %s\n", s, res.Failed[s])
		}
		fmt.Fprintf(m.stdout, "Apply %s had committed (every step was done): it is finished now, and nothing was undone.\n", res.ApplyID)
		return exitOK
	}
	for _, s := range res.Unchanged {
		fmt.Fprintf(m.stdout, "nothing to undo: %s (interrupted before it changed anything)\n", s)
	}
	for _, s := range res.Undone {
		fmt.Fprintf(m.stdout, "undone: %s\n", s)
	}
	failed := len(res.Failed) > 0 || len(res.Left) > 0
	for _, s := range slices.Sorted(maps.Keys(res.Failed)) {
		fmt.Fprintf(m.stderr, "Undoing %s failed:\n", s)
		m.showError(nil, nil, res.Failed[s])
	}
	for _, err := range res.JournalErrors {
		fmt.Fprintf(m.stderr, "Warning: %s\n", err)
	}
	if len(res.Left) > 0 {
		fmt.Fprintf(m.stderr, "Stopped before undoing: %s.\n", strings.Join(res.Left, ", "))
	}
	if failed {
		fmt.Fprintf(m.stderr, "The rollback of apply %s is incomplete; fix what is reported and run `plan rollback %s` again.\n", res.ApplyID, path)
		return exitError
	}
	if len(res.Flipped) > 0 {
		fmt.Fprintf(m.stdout, "Flipped back apply %s (%s): the previous colour serves again; no container was started.\n", res.ApplyID, strings.Join(res.Flipped, "; "))
		return exitOK
	}
	fmt.Fprintf(m.stdout, "Rolled back apply %s: things are as they were before it.\n", res.ApplyID)
	return exitOK
}

type statusCommand struct {
	meta     *meta
	stateDir string
	asJSON   bool
}

func (c *statusCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("status", true)
	fs.BoolVar(&c.asJSON, "json", false, "JSON lines")
	fs.StringVar(&c.stateDir, "state-dir", "", "state folder `DIR`")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *statusCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *statusCommand) AutocompleteArgs() complete.Predictor { return planPath }

// Synopsis implements cli.Command.
func (c *statusCommand) Synopsis() string { return "Show the lock holder and the last apply" }

// Help implements cli.Command.
func (c *statusCommand) Help() string {
	return commandHelp(c, "PATH", `
  Shows who holds the plan's lock (and whether that process is still
  alive), and what the last apply did: finished or not, and which steps
  are still in place if it did not finish.

Options:
  -state-dir DIR  Where the lock and journal are (default: .nonstop/ next
                  to the plan; with state = nginx.NAME, on that nginx's
                  container).
  -var NAME=VALUE Set a variable, as for apply: needed only when the
                  plan's state is on its target and the nginx block that
                  holds it uses variables.
  -var-file FILE  Read variables from an HCL or JSON file, as for apply.
  -json           Print JSON lines: a version message, then one status
                  message (see docs/cli.md).
  -no-color       No colour or other terminal escapes.

Exit status: 0.

Example:
  plan status plans/rolling-update.hcl
`)
}

// Run implements cli.Command.
func (c *statusCommand) Run(args []string) int {
	m := c.meta
	fs := c.flags()
	stateDir := &c.stateDir
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	var v *jsonView
	if c.asJSON {
		v = newJSONView(m.stdout)
	}
	path, ok := m.onePathJSON(v, "status", fs.Args())
	if !ok {
		return exitError
	}
	snap, done, err := m.snapshot(path, *stateDir)
	if err != nil {
		if v != nil {
			v.error(err)
		} else {
			m.showError(nil, nil, err)
		}
		return exitError
	}
	defer done()
	dir := snap.Dir
	if v != nil {
		return statusJSON(v, path, snap)
	}
	if info := snap.Lock; info != nil {
		state := "running"
		if !snap.LockAlive {
			state = "STALE: its process is gone; `plan rollback " + path + "` takes it over, or remove it with `plan unlock " + info.ID + " " + path + "`"
		}
		fmt.Fprintf(m.stdout, "Lock: %s, %s\n", info, state)
	} else {
		fmt.Fprintln(m.stdout, "Lock: none")
	}
	j, err := executor.LastJournal(dir)
	if err != nil || j == "" {
		fmt.Fprintln(m.stdout, "Last apply: none")
		return exitOK
	}
	entries, err := executor.ReadJournal(j)
	if err != nil {
		fmt.Fprintf(m.stdout, "Last apply: UNREADABLE journal\n")
		fmt.Fprintf(m.stderr, "Error: %s\n", err)
		return exitOK
	}
	s := executor.Summarize(entries)
	if !s.Began {
		fmt.Fprintf(m.stdout, "Last apply: stopped before its first record, so before any change\n  journal: %s\n", snap.Name(j))
		return exitOK
	}
	result := s.Result
	switch {
	case s.NeedsFinish():
		result = "COMMITTED, UNFINISHED (every step was done; the process stopped while removing what it kept for rollback)"
	case !s.Finished:
		result = "UNFINISHED (the process stopped before the end)"
	}
	by := ""
	if s.PID != 0 {
		by = fmt.Sprintf(" (pid %d on %s)", s.PID, s.Host)
	}
	fmt.Fprintf(m.stdout, "Last apply: %s%s, started %s: %s\n  journal: %s\n", s.ApplyID, by, s.Started.Local().Format("2006-01-02 15:04:05"), result, snap.Name(j))
	if s.NeedsFinish() {
		for _, e := range s.Unfinalized {
			fmt.Fprintf(m.stdout, "  to finish: %s\n", e.Step)
		}
		fmt.Fprintf(m.stdout, "  run `plan rollback %s` to finish it (it rolls forward: nothing is undone)\n", path)
	}
	if s.NeedsRollback() {
		for _, o := range s.Outstanding {
			fmt.Fprintf(m.stdout, "  still in place: %s\n", o.Step)
		}
		for _, e := range s.Interrupted {
			fmt.Fprintf(m.stdout, "  interrupted mid-step: %s\n", e.Step)
		}
		fmt.Fprintf(m.stdout, "  run `plan rollback %s` to undo them\n", path)
	}
	return exitOK
}

type unlockCommand struct {
	meta     *meta
	stateDir string
}

func (c *unlockCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("unlock", true)
	fs.StringVar(&c.stateDir, "state-dir", "", "state folder `DIR`")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *unlockCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *unlockCommand) AutocompleteArgs() complete.Predictor { return planPath }

// Synopsis implements cli.Command.
func (c *unlockCommand) Synopsis() string { return "Remove a lock left by a dead process" }

// Help implements cli.Command.
func (c *unlockCommand) Help() string {
	return commandHelp(c, "ID PATH", `
  Removes the lock with the given ID (see "plan status"), only if its
  process is gone. It does not undo anything: run "plan rollback" for that.

Options:
  -state-dir DIR  Where the lock is (default: .nonstop/ next to the plan;
                  with state = nginx.NAME, on that nginx's container).
  -var NAME=VALUE Set a variable, as for apply: needed only when the
                  plan's state is on its target and the nginx block that
                  holds it uses variables.
  -var-file FILE  Read variables from an HCL or JSON file, as for apply.
  -no-color       No colour or other terminal escapes.

Exit status: 0 removed; 1 otherwise.

Example:
  plan unlock 20261126T071500Z-a1b2c3 plans/rolling-update.hcl
`)
}

// Run implements cli.Command.
func (c *unlockCommand) Run(args []string) int {
	m := c.meta
	fs := c.flags()
	stateDir := &c.stateDir
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(m.stderr, "Error: plan unlock takes a lock ID and a PATH. Run \"plan status PATH\" to see the ID.")
		return exitError
	}
	ctx := context.Background()
	home, err := m.stateHome(ctx, fs.Arg(1), *stateDir)
	if err == nil {
		defer home.Close()
		err = home.Unlock(ctx, fs.Arg(0))
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("no lock found")
		}
		fmt.Fprintf(m.stderr, "Error: %s\n", err)
		return exitError
	}
	fmt.Fprintln(m.stdout, "Lock removed.")
	return exitOK
}
