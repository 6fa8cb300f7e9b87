// This file holds how the reload backend makes sure a server it puts back
// into rotation resolves where nginx runs (nginx refuses a whole config
// that names a host it cannot resolve), and the errors that tell "no" from
// "could not find out".

package nginx

import (
	"context"
	"errors"
	"fmt"
)

// Resolves implements Membership for a server of the upstream, as written
// in its line (e.g. "app2:3000").
func (b *Balancer) Resolves(ctx context.Context, server string) error {
	if err := b.valid(); err != nil {
		return err
	}
	host, _ := splitAddress(server)
	if resolveLiteral(host) {
		return nil
	}
	err := b.o.Runtime.Resolves(ctx, host)
	if err == nil || errors.Is(err, errCannotCheck) {
		return err
	}
	return &unresolvableError{err}
}

// resolves refuses to put s into rotation when its host does not resolve
// where nginx runs.
func (b *Balancer) resolves(ctx context.Context, s *Server) error {
	if resolveLiteral(s.Host) {
		return nil
	}
	if err := b.o.Runtime.Resolves(ctx, s.Host); err != nil {
		if errors.Is(err, errCannotCheck) {
			return fmt.Errorf("cannot check that %q resolves before putting it back into upstream %q (nothing was changed): %w",
				s.Host, b.o.Upstream, err)
		}
		return &unresolvableError{fmt.Errorf("refusing to put %q back into upstream %q (nothing was changed): %w", s.Address, b.o.Upstream, err)}
	}
	return nil
}

// errCannotCheck is matched by the errors of a Runtime's Resolves that
// could not find out (nginx's container or the engine did not answer), as
// opposed to the answer being no; see cannotCheck.
var errCannotCheck = errors.New("cannot check name resolution")

// cannotCheck marks err as "could not find out" without adding text.
type cannotCheck struct{ err error }

// Error is the cause's message, unchanged.
func (e cannotCheck) Error() string { return e.err.Error() }

// Unwrap matches errCannotCheck and the cause.
func (e cannotCheck) Unwrap() []error { return []error{errCannotCheck, e.err} }

// unresolvableError is a refusal because a host does not resolve: it
// matches ErrUnresolvable without repeating its text.
type unresolvableError struct{ err error }

// Error is the refusal's message, unchanged.
func (e *unresolvableError) Error() string { return e.err.Error() }

// Unwrap matches ErrUnresolvable and the cause.
func (e *unresolvableError) Unwrap() []error {
	return []error{ErrUnresolvable, e.err}
}
