// This file holds apply's and rollback's progress: a live table on a
// terminal, one line per event otherwise.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"golang.org/x/term"

	"github.com/nonstop-deploy/nonstop/executor"
)

// liveProgress is apply's display on a terminal: one line per step, in the
// order they run, redrawn in place as steps move through waiting → running
// → done / failed / rolled back, with the elapsed time ticking for running
// steps and each step's latest note. Off a terminal, apply prints one line
// per event instead (see lineProgress), which logs and CI keep readable.
type liveProgress struct {
	mu      sync.Mutex
	w       io.Writer
	width   int
	steps   []string
	index   map[string]int
	status  []executor.Status
	started []time.Time
	elapsed []time.Duration
	note    []string
	banner  string
	// warnings (EventWarning) not printed yet: each is printed once,
	// whole, above the redrawn steps, where it stays.
	warnings []string
	drawn    int
	ticking  bool
	stop     chan struct{}
	done     chan struct{}
}

func newLiveProgress(w io.Writer, order []string, width int) *liveProgress {
	if width < 40 {
		width = 100
	}
	l := &liveProgress{
		w: w, width: width, steps: order, index: map[string]int{},
		status: make([]executor.Status, len(order)), started: make([]time.Time, len(order)),
		elapsed: make([]time.Duration, len(order)), note: make([]string, len(order)),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	for i, s := range order {
		l.index[s] = i
		l.status[i] = executor.Waiting
	}
	return l
}

// tick redraws a few times a second so running steps' times move.
func (l *liveProgress) tick() {
	defer close(l.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.draw()
			l.mu.Unlock()
		}
	}
}

// Close draws the final state and stops redrawing.
func (l *liveProgress) Close() {
	l.mu.Lock()
	ticking := l.ticking
	l.mu.Unlock()
	if !ticking {
		return // nothing ran (preflight failed, or the user said no)
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.draw()
}

// Event implements the executor's event callback.
// The display starts with the first event, so it never draws over the
// confirmation prompt.
func (l *liveProgress) Event(e executor.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ticking {
		l.ticking = true
		go l.tick()
	}
	i, ok := l.index[e.Step]
	if !ok && e.Step != "" {
		// A step the display was not given in advance (rollback learns
		// its steps from the journal).
		i, ok = len(l.steps), true
		l.index[e.Step] = i
		l.steps = append(l.steps, e.Step)
		l.status = append(l.status, executor.Waiting)
		l.started = append(l.started, time.Time{})
		l.elapsed = append(l.elapsed, 0)
		l.note = append(l.note, "")
	}
	switch e.Type {
	case executor.EventStep:
		if !ok {
			return
		}
		if e.Status == executor.Running {
			l.started[i] = e.Time
		} else if e.Elapsed > 0 {
			l.elapsed[i] = time.Duration(e.Elapsed * float64(time.Second))
		}
		l.status[i] = e.Status
		if e.Message != "" {
			l.note[i] = e.Message
		}
	case executor.EventNote:
		if ok {
			l.note[i] = e.Message
		}
	case executor.EventRollback:
		l.banner = "rollback: " + e.Message
	case executor.EventCommit:
		l.banner = "commit: " + e.Message
	case executor.EventWarning:
		l.warnings = append(l.warnings, e.Message)
	}
	l.draw()
}

var statusMark = map[executor.Status]string{
	executor.Waiting:        "·",
	executor.Running:        "›",
	executor.Done:           "✓",
	executor.Failed:         "✗",
	executor.Cancelled:      "-",
	executor.Skipped:        "-",
	executor.Stuck:          "?",
	executor.RolledBack:     "↺",
	executor.RollbackFailed: "!",
}

func (l *liveProgress) draw() {
	var b strings.Builder
	if l.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", l.drawn)
	}
	if len(l.warnings) > 0 {
		// Cleared below, so a warning that wraps leaves nothing stale.
		b.WriteString("\x1b[J")
		for _, w := range l.warnings {
			b.WriteString("warning: " + w + "\n")
		}
		l.warnings = nil
	}
	width := 0
	for _, s := range l.steps {
		width = max(width, len(s))
	}
	lines := 0
	for i, s := range l.steps {
		d := l.elapsed[i]
		if l.status[i] == executor.Running && !l.started[i].IsZero() {
			d = time.Since(l.started[i])
		}
		t := ""
		if d > 0 {
			t = fmt.Sprintf("%5.1fs", d.Seconds())
		}
		line := fmt.Sprintf("%s %-*s  %-15s %6s  %s", statusMark[l.status[i]], width, s, l.status[i], t, l.note[i])
		b.WriteString("\x1b[2K" + clip(line, l.width) + "\n")
		lines++
	}
	if l.banner != "" {
		b.WriteString("\x1b[2K" + clip(l.banner, l.width) + "\n")
		lines++
	}
	l.drawn = lines
	_, _ = io.WriteString(l.w, b.String())
}

// clip cuts a line to the terminal width, so a redraw never wraps (a
// wrapped line would break the cursor arithmetic).
func clip(s string, width int) string {
	r := []rune(s)
	if len(r) < width {
		return s
	}
	return string(r[:width-2]) + "…"
}

// progressPrinter returns the progress display of apply and rollback: the
// -json stream's messages when v is set, a live table on a terminal (steps
// not in order are added as they first appear), one line per event
// otherwise (and with -no-color: the live table moves the cursor with
// escape sequences). close stops it; live says which it is.
func (m *meta) progressPrinter(v *jsonView, order []string) (events func(executor.Event), close func(), live bool) {
	if v != nil {
		return v.event, func() {}, false
	}
	if f, ok := m.stdout.(*os.File); ok && isatty.IsTerminal(f.Fd()) && os.Getenv("TERM") != "dumb" && !m.noColor {
		width, _, err := term.GetSize(int(f.Fd()))
		if err != nil {
			width = 100
		}
		l := newLiveProgress(m.stdout, order, width)
		return l.Event, l.Close, true
	}
	return lineProgress(m.stdout), func() {}, false
}

// lineProgress prints one line per event: the display for logs and CI.
func lineProgress(w io.Writer) func(executor.Event) {
	start := time.Now()
	return func(e executor.Event) {
		at := time.Since(start).Seconds()
		switch e.Type {
		case executor.EventStep:
			extra := ""
			if e.Elapsed > 0 && e.Status != executor.Running {
				extra = fmt.Sprintf(" (%.1fs)", e.Elapsed)
			}
			if e.Message != "" {
				extra += ": " + e.Message
			}
			fmt.Fprintf(w, "[%6.1fs] %-40s %s%s\n", at, e.Step, e.Status, extra)
		case executor.EventNote:
			fmt.Fprintf(w, "[%6.1fs] %-40s   %s\n", at, e.Step, e.Message)
		case executor.EventRollback:
			fmt.Fprintf(w, "[%6.1fs] rollback: %s\n", at, e.Message)
		case executor.EventCommit:
			fmt.Fprintf(w, "[%6.1fs] commit: %s\n", at, e.Message)
		case executor.EventWarning:
			fmt.Fprintf(w, "[%6.1fs] warning: %s\n", at, e.Message)
		}
	}
}
