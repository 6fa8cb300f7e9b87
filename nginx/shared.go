// This file holds Shared, the state that the Balancers of one caller (one
// apply) share: the locks that keep their edits of one file and their
// reloads of one nginx from interleaving, and the contents `nginx -t` has
// already accepted. It is a value the caller constructs and passes in
// Options, never a package variable, so two applies (or two tests) in one
// process share nothing by accident.

package nginx

import (
	"crypto/sha256"
	"sync"
)

// Shared is what Balancers that may touch the same config file or the same
// nginx must share. Give every Balancer of an apply the same *Shared
// (steps.Env does); a Balancer built without one gets its own, which is
// only right when no other Balancer edits its file or reloads its nginx.
// The zero value is ready to use; it is safe for concurrent use.
type Shared struct {
	mu sync.Mutex
	// locks serialize edit+test+reload sequences: steps run in parallel,
	// and two edits of one file (or two reloads of one nginx) must not
	// interleave. Keys are "file:PATH" and "runtime:NAME"; they are as
	// many as the targets of the apply.
	locks map[string]*sync.Mutex
	// passed remembers, per nginx and config file, the contents that
	// `nginx -t` accepted (the preflight's Check, and each commit). A
	// restore writes back the exact bytes the preflight tested, and a
	// rollback the bytes of an earlier step: testing them again would cost
	// a `docker exec` (100-300 ms) and prove nothing new. The included
	// files could have changed meanwhile, and then nginx refuses the config
	// at reload: it keeps its old workers, waitGeneration sees no new
	// generation, and the change is reverted as for any failed reload.
	passed map[string]map[[sha256.Size]byte]bool
}

// NewShared returns an empty Shared.
func NewShared() *Shared { return &Shared{} }

// lock takes the mutex of the config path, then the one of the runtime
// (always in that order, so there is no deadlock), and returns the unlock.
func (s *Shared) lock(path, runtime string) func() {
	get := func(key string) *sync.Mutex {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.locks == nil {
			s.locks = map[string]*sync.Mutex{}
		}
		m, ok := s.locks[key]
		if !ok {
			m = &sync.Mutex{}
			s.locks[key] = m
		}
		return m
	}
	a, r := get("file:"+path), get("runtime:"+runtime)
	a.Lock()
	r.Lock()
	return func() {
		r.Unlock()
		a.Unlock()
	}
}

func passedKey(path, runtime string) string { return runtime + "\x00" + path }

// markPassed records that nginx -t accepted data as the content of path.
func (s *Shared) markPassed(path, runtime string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.passed == nil {
		s.passed = map[string]map[[sha256.Size]byte]bool{}
	}
	k := passedKey(path, runtime)
	if s.passed[k] == nil {
		s.passed[k] = map[[sha256.Size]byte]bool{}
	}
	s.passed[k][sha256.Sum256(data)] = true
}

// hasPassed reports whether markPassed saw exactly data for path.
func (s *Shared) hasPassed(path, runtime string, data []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.passed[passedKey(path, runtime)][sha256.Sum256(data)]
}
