// This file holds SetBackup, the text edit that adds or removes the
// `backup` parameter of one upstream server line (a blue/green with idle =
// "backup" swaps it between colours), and the balancing-method check that
// refuses it where nginx would.

package nginx

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrBackupUnsupported is wrapped when SetBackup is asked to add `backup`
// to a server of an upstream whose balancing method nginx refuses it with
// (hash, ip_hash, random): `nginx -t` would fail with "balancing method
// does not support parameter backup".
var ErrBackupUnsupported = errors.New("the upstream's balancing method does not support backup servers")

// SetBackup returns src with the `backup` parameter of one upstream server
// line added (backup=true) or removed (backup=false), changing no other
// byte, by the same rules as SetDown: SetBackup(SetBackup(x, true), false)
// == x whenever x's server had no `backup`. A blue/green whose idle colour
// is `backup` moves the flag between its colours with it. Adding it to a
// server of an upstream balanced by hash, ip_hash or random is refused
// (ErrBackupUnsupported): nginx would refuse the config. Errors wrap the
// same sentinels as SetDown.
func SetBackup(src []byte, upstream, server string, backup bool) ([]byte, error) {
	return setBackup("", src, upstream, server, backup)
}

func setBackup(file string, src []byte, upstream, server string, backup bool) ([]byte, error) {
	cfg, s, err := locate(file, src, upstream, server)
	if err != nil {
		return nil, err
	}
	if backup {
		if isBackup(s) {
			return bytes.Clone(src), nil
		}
		if m := cfg.balancing(upstream); m != "" {
			return nil, fmt.Errorf("%w: cannot mark %q `backup` in upstream %q of %s, which is balanced by %q. Remove %s from the upstream (round robin or least_conn support backup), or use idle = \"down\"",
				ErrBackupUnsupported, server, upstream, where(file), m, m)
		}
		return insertAfterLast(src, s, "backup"), nil
	}
	var idx []int
	for i := 2; i < len(s.tokens); i++ {
		if s.tokens[i].val == "backup" {
			idx = append(idx, i)
		}
	}
	return removeTokens(src, s, idx), nil
}

// isBackup reports whether the server line has a `backup` parameter.
func isBackup(s *Server) bool {
	for _, p := range s.Params {
		if p == "backup" {
			return true
		}
	}
	return false
}

// balancing returns the directive of the upstream named name that selects
// a balancing method nginx refuses `backup` servers with (hash, ip_hash,
// random), or "" when it has none.
func (c *Config) balancing(name string) string {
	stack := append([]*directive{}, c.root...)
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if d.args[0].val == "upstream" && d.isBlock && len(d.args) == 2 {
			if d.args[1].val != name {
				continue
			}
			for _, sd := range d.children {
				switch sd.args[0].val {
				case "hash", "ip_hash", "random":
					return sd.args[0].val
				}
			}
			continue
		}
		if d.isBlock {
			stack = append(stack, d.children...)
		}
	}
	return ""
}
