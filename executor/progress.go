// This file holds progress: how the walk tells its caller where each step
// stands, as events and in the Outcome, one event at a time.
package executor

import (
	"sync"
	"time"
)

// progress serializes events and keeps the Outcome's status and notes in
// step with them. Steps are named by index; addr maps an index to the
// address events carry.
type progress struct {
	mu     sync.Mutex
	events func(Event)
	addr   func(i int) string
	// out is updated with every status and note; nil for a compensation
	// without a walk (`plan rollback`).
	out *Outcome
}

func (p *progress) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if p.events != nil {
		p.events(e)
	}
}

// event emits e under the lock: for events that are not about one step.
func (p *progress) event(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.emit(e)
}

// status moves step i to s; msg says why (a failure's error).
func (p *progress) status(i int, s Status, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var elapsed float64
	if p.out != nil {
		p.out.Status[i] = s
		elapsed = p.out.Elapsed[i].Seconds()
	}
	p.emit(Event{Type: EventStep, Step: p.addr(i), Status: s, Message: msg, Elapsed: elapsed})
}

// note returns the progress callback of step i.
func (p *progress) note(i int) func(string) {
	return func(msg string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.out != nil {
			p.out.Notes[i] = append(p.out.Notes[i], msg)
		}
		p.emit(Event{Type: EventNote, Step: p.addr(i), Message: msg})
	}
}
