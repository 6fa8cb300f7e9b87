// This file holds `plan apply`: flags, the prompt, the run through
// internal/runner, the live display and the exit codes.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"
	"github.com/posener/complete"

	"github.com/nonstop-deploy/nonstop/dsl"
	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/render"
	"github.com/nonstop-deploy/nonstop/internal/runner"
)

type applyCommand struct {
	meta *meta
	// live is set when progress is a live table on a terminal: the final
	// summary then skips its own copy of the table.
	live bool
	// view is the -json stream; nil without -json.
	view *jsonView

	// The flags, bound by flags().
	auto, dry, asJSON bool
	detailed          bool
	format            string
	par               int
	stateDir, level   string
	lockTimeout       time.Duration
	wf                watchFlags
}

func (c *applyCommand) flags() *flag.FlagSet {
	fs := c.meta.flagSet("apply", true)
	fs.BoolVar(&c.auto, "auto-approve", false, "skip confirmation")
	fs.BoolVar(&c.dry, "dry-run", false, "preflight only")
	fs.BoolVar(&c.detailed, "detailed-exitcode", false, "with -dry-run: exit 0 nothing to do, 2 changes pending, 1 error")
	fs.StringVar(&c.format, "format", "text", "with -dry-run: `text|markdown`")
	fs.IntVar(&c.par, "parallelism", executor.DefaultParallelism, "`N` steps at once")
	fs.BoolVar(&c.asJSON, "json", false, "JSON lines")
	fs.StringVar(&c.stateDir, "state-dir", "", "state folder `DIR`")
	fs.DurationVar(&c.lockTimeout, "lock-timeout", 0, "wait up to `D` for a held lock")
	fs.StringVar(&c.level, "log-level", "", "operator log level `L`: debug, info, warn or error (default: PLAN_LOG, else warn)")
	fs.Var(&c.wf.urls, "watch", "`URL` to send steady traffic to during the apply (repeatable)")
	fs.IntVar(&c.wf.rate, "watch-rate", 50, "`N` requests per second per -watch URL")
	fs.StringVar(&c.wf.method, "watch-method", "GET", "`GET|POST`")
	fs.IntVar(&c.wf.maxFailures, "watch-max-failures", 0, "`N` failed requests allowed before the apply is rolled back")
	fs.BoolVar(&c.wf.keepAlive, "watch-keepalive", true, "reuse connections")
	return fs
}

// AutocompleteFlags implements cli.CommandAutocomplete.
func (c *applyCommand) AutocompleteFlags() complete.Flags { return completeFlags(c) }

// AutocompleteArgs implements cli.CommandAutocomplete.
func (c *applyCommand) AutocompleteArgs() complete.Predictor { return planPath }

// Synopsis implements cli.Command.
func (c *applyCommand) Synopsis() string {
	return "Run a plan against Docker and nginx, rolling back on failure"
}

// Help implements cli.Command.
func (c *applyCommand) Help() string {
	return commandHelp(c, "PATH", `
  Runs the plan: every step once its dependencies are done. Before any
  change, a preflight checks that Docker answers, every container and image
  exists, and every nginx config holds the upstreams and servers the plan
  names and passes "nginx -t". If a step fails, every completed step is
  undone, newest first.

  The first Ctrl-C stops starting steps and rolls back; a second one stops
  the rollback and lists what is left (finish it with "plan rollback").

  State (a lock and a journal of every step) is kept in .nonstop/ next to
  the plan. What the plan changes (its nginx configs and containers) is
  locked too, machine-wide: another plan that changes one of them cannot
  apply at the same time.

Options:
  -auto-approve    Do not ask for confirmation.
  -dry-run         Run the preflight and show what would happen; change
                   nothing. Lists each step as "will run" or "up to date,
                   will be skipped" (checked against the live engine and
                   nginx, as a real apply decides), and what each would
                   change: image and env before -> after (sensitive values
                   hidden), the upstream's server line before -> after.
                   The confirmation prompt shows the same list.
  -detailed-exitcode
                   With -dry-run only, as "terraform plan": exit 0 when
                   every step is up to date (nothing to do), 2 when some
                   step would run, 1 on error. Without -dry-run it is a
                   usage error.
  -format F        With -dry-run: text (default) or markdown (the review
                   and the changes as a table, for a pull-request comment).
  -parallelism N   Steps running at once (default 4).
  -json            Print only JSON lines on stdout, after Terraform's
                   machine-readable UI: a version message, then one message
                   per event, diagnostic and summary (see docs/cli.md).
                   Never prompts: requires -auto-approve (or -dry-run).
  -state-dir DIR   Where to keep the lock and journal.
  -lock-timeout D  Wait up to D (e.g. 5m) for a lock another apply holds,
                   instead of refusing at once (default 0).
  -log-level L     Operator log on stderr: debug, info, warn, error
                   (default: $PLAN_LOG, else warn; PLAN_LOG_FORMAT=json
                   for JSON lines).
  -watch URL       While the steps run, send steady traffic to URL (your
                   load balancer; repeatable) and count every failed request
                   (status >= 500, resets, timeouts). The summary gives the
                   count and the latency p50/p99 before vs during.
  -watch-rate N    Requests per second per URL (default 50).
  -watch-method M  GET (default) or POST. POST shows the keep-alive
                   connections nginx closes on reload; GET hides them
                   (clients retry idempotent requests).
  -watch-max-failures N
                   More failed requests than N during the steps stops the
                   apply and rolls it back (exit 2). Default 0.
  -watch-keepalive=false
                   A new connection per request.
  -var name=value  Set a variable (repeatable).
  -var-file FILE   Read variables from an HCL file, or a JSON one (*.json)
                   (repeatable).
  -no-color        No colour, and no live table: one line per event.

Exit status: 0 applied; 1 failed before any change; 2 failed and rolled
back cleanly; 3 failed and the rollback is incomplete (see "plan status").
With -dry-run: 0 preflight passed, 1 error; with -dry-run
-detailed-exitcode: 0 nothing to do, 2 changes pending, 1 error.

Examples:
  plan apply plans/rolling-update.hcl
  plan apply -auto-approve -var version=v3 plans/rolling-update.hcl
  plan apply -dry-run plans/rolling-update.hcl
  plan apply -dry-run -detailed-exitcode plans/rolling-update.hcl
  plan apply -watch http://127.0.0.1/ -watch-method POST plans/rolling-update.hcl
`)
}

// Run implements cli.Command.
func (c *applyCommand) Run(args []string) int {
	m := c.meta
	fs := c.flags()
	auto, dry, par, asJSON, stateDir, lockTimeout, level := &c.auto, &c.dry, &c.par, &c.asJSON, &c.stateDir, &c.lockTimeout, &c.level
	wf := c.wf
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	wf = c.wf
	if *asJSON {
		c.view = newJSONView(m.stdout)
	}
	path, ok := m.onePathJSON(c.view, "apply", fs.Args())
	if !ok {
		return exitError
	}
	if c.detailed && !*dry {
		const why = "-detailed-exitcode needs -dry-run"
		const how = "Only a dry run has changes pending to report (exit 0 nothing to do, 2 changes pending); a real apply's exit status says how it ended. Nothing was changed."
		if c.view != nil {
			c.view.diag(hcl.DiagError, why, how)
		} else {
			fmt.Fprintf(m.stderr, "Error: %s\n%s\n", why, how)
		}
		return exitError
	}
	if (c.format != "text" && c.format != "markdown") || (c.format != "text" && (!*dry || *asJSON)) {
		const why = "-format is text or markdown, with -dry-run and without -json"
		const how = "Pass -dry-run -format markdown for a pull-request comment, -json for machine-readable lines. Nothing was changed."
		if c.view != nil {
			c.view.diag(hcl.DiagError, why, how)
		} else {
			fmt.Fprintf(m.stderr, "Error: %s\n%s\n", why, how)
		}
		return exitError
	}
	if c.view != nil && !*auto && !*dry {
		c.view.diag(hcl.DiagError, "-json requires -auto-approve",
			"With -json, apply never prompts for confirmation (stdout holds only JSON). Pass -auto-approve to apply without asking, or -dry-run to run only the preflight. Nothing was changed.")
		return exitError
	}
	p, g, diags := m.load(path)
	if c.view != nil {
		if p != nil {
			c.view.files = p.Files
		}
		c.view.diagnostics(diags)
	} else {
		m.showDiags(p, diags)
	}
	if diags.HasErrors() {
		return exitError
	}

	// First signal: stop starting steps and roll back. Second: stop the
	// rollback too.
	applyCtx, cancelApply := context.WithCancelCause(context.Background())
	rollbackCtx, cancelRollback := context.WithCancel(context.Background())
	defer cancelApply(nil)
	defer cancelRollback()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for s := range sigs {
			n++
			if n == 1 {
				fmt.Fprintf(m.stderr, "\n%s: stopping; completed steps will be rolled back (again to stop the rollback)\n", s)
				cancelApply(fmt.Errorf("%s received", s))
				continue
			}
			fmt.Fprintf(m.stderr, "\n%s: stopping the rollback\n", s)
			cancelRollback()
		}
	}()

	red := runner.NewRedactor(p)
	if c.view != nil {
		c.view.red = red
	}
	log, err := m.logger(red.Writer(m.stderr), *level)
	if err != nil {
		c.fail(err, "")
		return exitError
	}
	opts := runner.Options{
		Steps: m.steps, StateDir: *stateDir, Parallelism: *par, DryRun: *dry, RollbackContext: rollbackCtx, LockTimeout: *lockTimeout,
		Log:         log,
		Redact:      red,
		AfterRecord: killAfterRecord(),
	}
	var order []string
	for _, st := range g.Order() {
		order = append(order, st.Addr)
	}
	events, closeProgress := c.printer(order)
	opts.Events = events
	if !*auto && !*dry {
		opts.Confirm = func() bool { return c.confirm(p.Name, len(g.Steps)) }
		opts.ShowChanges = func(r *runner.Result) {
			changes, _ := plannedChanges(r, red)
			c.printChanges(changes)
		}
	}
	if *dry && !*asJSON {
		_ = render.Show(m.stdout, render.NewReview(p, g), c.format)
	}
	var w *watcher
	if len(wf.urls) > 0 && !*dry {
		w, err = startWatch(context.Background(), wf, func(err error) { cancelApply(err) })
		if err != nil {
			c.fail(err, "Nothing was changed.")
			return exitError
		}
		opts.Watch = func() []runner.WatchCount { return watchCounts(w) }
		inner := opts.Events
		opts.Events = func(e executor.Event) {
			if e.Type == executor.EventStep && e.Status == executor.Running {
				w.stepsStarted()
			}
			if e.Type == executor.EventRollback {
				w.stop() // the gate measures the steps, not the rollback
			}
			inner(e)
		}
	}
	res, err := runner.Apply(applyCtx, p, g, opts)
	closeProgress()
	if w != nil {
		w.stop()
		if c.view != nil {
			for _, s := range w.summaries() {
				level := "info"
				if s.Failed > 0 {
					level = "warn"
				}
				c.view.message(level, msgWatchSummary, fmt.Sprintf("watch %s: %d requests, %d failed", s.URL, s.Requests, s.Failed), time.Time{}, map[string]any{"watch": s})
			}
		} else {
			defer w.print(m.stdout)
		}
	}
	if err != nil {
		if c.view != nil {
			c.view.error(err)
		} else {
			m.showError(p, red, err)
		}
		return exitError
	}
	if res.DryRun {
		return c.dryRunReport(res, red)
	}
	c.summary(res, p, red, path)
	return res.Outcome.Code
}

// killAfterRecordEnv is a test hook, not a feature: when set to N, apply
// SIGKILLs itself right after the N-th record of its journal is on disk,
// so a test can stop it at every record in turn, deterministically
// (internal/e2e/commit_test.go). Unset, it costs nothing.
const killAfterRecordEnv = "PLAN_TEST_KILL_AFTER_RECORD"

func killAfterRecord() func(int) {
	n, err := strconv.Atoi(os.Getenv(killAfterRecordEnv))
	if err != nil || n <= 0 {
		return nil
	}
	return func(k int) {
		if k == n {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}

// confirm asks before changing anything, as terraform apply does.
func (c *applyCommand) confirm(name string, n int) bool {
	m := c.meta
	if !isatty.IsTerminal(os.Stdin.Fd()) {
		fmt.Fprintln(m.stderr, "Error: apply needs confirmation and standard input is not a terminal; pass -auto-approve.")
		return false
	}
	fmt.Fprintf(m.stdout, "\nApply plan %q (%d steps)? Only 'yes' will be accepted: ", name, n)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}

// printer returns the progress renderer (see progressPrinter) and notes
// whether it is the live table.
func (c *applyCommand) printer(order []string) (events func(executor.Event), close func()) {
	events, close, c.live = c.meta.progressPrinter(c.view, order)
	return events, close
}

// fail reports an error that stops apply before any change: a diagnostic
// with -json, "Error: …" on stderr otherwise; then is said after it.
func (c *applyCommand) fail(err error, then string) {
	if c.view != nil {
		c.view.diag(hcl.DiagError, err.Error(), then)
		return
	}
	if then == "" {
		fmt.Fprintf(c.meta.stderr, "Error: %s.\n", err)
		return
	}
	fmt.Fprintf(c.meta.stderr, "Error: %s\n%s\n", err, then)
}

// summary prints the table of steps and what state things are in. Errors
// come in step order, with sensitive values hidden.
func (c *applyCommand) summary(res *runner.Result, p *dsl.Plan, red *runner.Redactor, path string) {
	m := c.meta
	out := res.Outcome
	if c.view != nil {
		c.summaryJSON(res, path)
		return
	}
	if res.NothingToDo {
		fmt.Fprintln(m.stdout, "\nNothing to do: every step is already in the plan's state (no container was recreated, nginx was not reloaded).")
		return
	}
	if !c.live {
		fmt.Fprintln(m.stdout)
		tw := tabwriter.NewWriter(m.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STEP\tSTATUS\tTIME")
		for i, s := range res.Graph.Steps {
			fmt.Fprintf(tw, "%s\t%s\t%.1fs\n", s.Addr, out.Status[i], out.Elapsed[i].Seconds())
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(m.stdout)
	switch out.Code {
	case executor.ExitApplied:
		fmt.Fprintf(m.stdout, "Apply complete: %d steps.\n", len(res.Graph.Steps))
		for _, i := range slices.Sorted(maps.Keys(out.FinalizeErrors)) {
			fmt.Fprintf(m.stderr, "Warning: %s: cleaning up after success failed: %s\n", res.Graph.Steps[i].Addr, red.String(out.FinalizeErrors[i].Error()))
		}
	case executor.ExitNoChange:
		m.showError(p, red, c.cause(res))
		fmt.Fprintln(m.stderr, "Nothing was changed.")
	case executor.ExitRolledBack:
		m.showError(p, red, c.cause(res))
		fmt.Fprintln(m.stderr, "Every completed step was rolled back: things are as they were before the apply.")
	default:
		m.showError(p, red, c.cause(res))
		for _, i := range slices.Sorted(maps.Keys(out.UndoErrors)) {
			st := res.Graph.Steps[i]
			m.showError(p, red, atStep(fmt.Errorf("rollback of %s failed: %w", st.Addr, out.UndoErrors[i]), "Rollback of "+st.Addr+" failed", st))
		}
		var left []string
		for _, i := range out.Left {
			left = append(left, res.Graph.Steps[i].Addr)
		}
		where := "journal: " + res.Journal
		if res.SharedState != "" {
			where = "the journal is kept on " + res.SharedState + ", so any runner can"
		}
		fmt.Fprintf(m.stderr, "Still in place: %s.\nRun `plan rollback %s` to undo them (%s).\n", strings.Join(left, ", "), path, where)
	}
	for _, err := range out.JournalErrors {
		fmt.Fprintf(m.stderr, "Warning: %s; the journal may list as in place what is not: `plan rollback %s` settles it (undos are idempotent).\n", red.String(err.Error()), path)
	}
}

// cause is the root cause of a failed apply, naming its step, and placed
// in the plan: at the range its step type gave it, else at the step's
// block.
func (c *applyCommand) cause(res *runner.Result) error {
	out := res.Outcome
	if out.CauseStep >= 0 {
		st := res.Graph.Steps[out.CauseStep]
		return atStep(fmt.Errorf("%s failed: %w", st.Addr, out.Cause), st.Addr+" failed", st)
	}
	if out.Cause != nil {
		return out.Cause
	}
	return errors.New("unknown failure")
}

// atStep places an error about a step at the step's block, unless it
// carries a range of its own (the more precise one wins).
func atStep(err error, summary string, st *dsl.Step) error {
	if st.DeclRange.Filename == "" {
		return err
	}
	return dsl.At(err, summary, st.DeclRange)
}
