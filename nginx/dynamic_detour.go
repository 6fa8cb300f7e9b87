// This file holds the reload-free backend's Detourer (Dynamic.Detour and
// EndDetour) and the undo of both: what a start-first deploy's switch uses
// to move a single replica from the old container to the new one, both
// answering to the same name, without a reload.
//
// A detour is, as with the reload backend, the server marked down plus an
// extra peer named by the new container's IP:port, in one state write. The
// Lua side counts requests in flight per peer name, so the server's own
// count is then the requests still on the old address (new ones go to the
// extra peer, counted under its own name): WaitDrained of a detour waits
// for exactly those.

package nginx

import (
	"context"
	"fmt"
	"net"
)

var _ Detourer = (*Dynamic)(nil)

// Detour implements Detourer: server is taken out of rotation and addr
// (IP:port) put in with the server's weight and backup, in one state
// write acknowledged by every worker before Detour returns. Wait with
// WaitDrained(change) for the requests the server (its old address) still
// has; Undo(change) puts the old address back.
func (d *Dynamic) Detour(ctx context.Context, server, addr string) (Change, error) {
	if err := checkDetourAddr(server, addr); err != nil {
		return Change{}, err
	}
	e := edit{server: server, op: OpDetour, apply: func(p *statePeer) { p.Down = true }, addr: addr}
	e.prep = func(st *state) bool { return putDetourPeer(st, server, addr) }
	cs, err := d.commit(ctx, []edit{e}, true)
	return first(cs), err
}

// EndDetour implements Detourer: the extra peer addr is removed and the
// server's down put back to wasDown, in one state write; a server back in
// rotation gets the address its name has now, asked from the engine (the
// old container is stopped by then, so that is the new one).
func (d *Dynamic) EndDetour(ctx context.Context, server, addr string, wasDown bool) (Change, error) {
	if err := checkDetourAddr(server, addr); err != nil {
		return Change{}, err
	}
	e := edit{server: server, op: OpEndDetour, apply: func(p *statePeer) { p.Down = wasDown }, up: !wasDown, addr: addr}
	e.prep = func(st *state) bool { return dropPeer(st, addr) }
	cs, err := d.commit(ctx, []edit{e}, true)
	return first(cs), err
}

// undoDetourEdit is the edit that reverts a detour or its end (also one
// decoded from a journal): for a detour, the extra peer goes and the
// server gets back its down and the address it had (c.PrevAddr; its name
// may resolve to both containers now); for an end, the extra peer comes
// back and the server is down again.
func undoDetourEdit(c Change) edit {
	e := edit{server: c.Server, op: "undo_" + c.Op}
	prevAddr, prevDown, addr := c.PrevAddr, c.PrevDown, c.Addr
	if c.Op == OpDetour {
		e.prep = func(st *state) bool { return dropPeer(st, addr) }
		e.apply = func(p *statePeer) {
			p.Down = prevDown
			if prevAddr != "" {
				p.Addr = prevAddr
			}
		}
		// Without a recorded address (never in the state before), the
		// name is asked again.
		e.up = !prevDown && prevAddr == ""
		return e
	}
	e.prep = func(st *state) bool { return putDetourPeer(st, c.Server, addr) }
	e.apply = func(p *statePeer) {
		p.Down = prevDown
		if prevAddr != "" {
			p.Addr = prevAddr
		}
	}
	return e
}

// checkDetourAddr refuses an addr that is not IP:port: the Lua balancer
// connects to addresses, and the extra peer is named by it.
func checkDetourAddr(server, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) == nil || port == "" {
		return fmt.Errorf("nginx: cannot detour %s to %q: want the new container's IP:port, e.g. 172.18.0.5:3000", server, addr)
	}
	if addr == server {
		return fmt.Errorf("nginx: cannot detour %s to itself", server)
	}
	return nil
}

// putDetourPeer puts the extra peer addr into st, in rotation with the
// weight and backup of server; false when it was there already as such.
func putDetourPeer(st *state, server, addr string) bool {
	want := statePeer{Name: addr, Addr: addr}
	if s := st.peer(server); s != nil {
		want.Weight, want.Backup = s.Weight, s.Backup
	}
	if p := st.peer(addr); p != nil {
		if *p == want {
			return false
		}
		*p = want
		return true
	}
	st.Peers = append(st.Peers, want)
	return true
}

// dropPeer removes the peer named name from st; false when it has none.
func dropPeer(st *state, name string) bool {
	for i := range st.Peers {
		if st.Peers[i].Name == name {
			st.Peers = append(st.Peers[:i], st.Peers[i+1:]...)
			return true
		}
	}
	return false
}
