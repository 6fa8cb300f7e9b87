// This file tests Where: which engine addresses count as this machine.
package dockerx

import (
	"strings"
	"testing"
)

func TestHostIsHere(t *testing.T) {
	for addr, want := range map[string]bool{
		"unix:///var/run/docker.sock":        true,
		"unix:///tmp/other/docker.sock":      true,
		"tcp://127.0.0.1:2375":               true,
		"tcp://localhost:2376":               true,
		"tcp://[::1]:2376":                   true,
		"127.0.0.1:2375":                     true,
		"ssh://root@127.0.0.1:2222":          true,
		"ssh://deploy@localhost":             true,
		"tcp://10.0.0.6:2376":                false,
		"tcp://docker.example.com:2376":      false,
		"ssh://deploy@web1.example.com":      false,
		"ssh://deploy@192.168.1.10:22":       false,
		"ssh://deploy@127.0.0.1.example.com": false,
		"bogus://127.0.0.1":                  false,
	} {
		if got := hostIsHere(addr); got != want {
			t.Errorf("hostIsHere(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestWhereFollowsTheEnvironment: an engine chosen by DOCKER_HOST or by a
// context is placed by the address it resolves to.
func TestWhereFollowsTheEnvironment(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_HOST", "ssh://deploy@web1.example.com")
	p, err := Endpoint{}.Where()
	if err != nil || p.Here || p.Host != "ssh://deploy@web1.example.com" || p.Source != "DOCKER_HOST" {
		t.Errorf("DOCKER_HOST=ssh://deploy@web1.example.com: %+v %v; want another machine, from DOCKER_HOST", p, err)
	}
	t.Setenv("DOCKER_HOST", "")
	p, err = Endpoint{}.Where()
	if err != nil || !p.Here {
		t.Errorf("the default socket: %+v %v; want this machine", p, err)
	}
	p, err = Endpoint{Host: "tcp://10.0.0.6:2376"}.Where()
	if err != nil || p.Here || p.String() != "the engine at tcp://10.0.0.6:2376 (the plan's docker block) runs on another machine" {
		t.Errorf("tcp://10.0.0.6:2376: %+v %q %v", p, p, err)
	}
}

// TestWhereThroughContexts: a context is placed by its endpoint's
// address, whether the block names it, DOCKER_CONTEXT or the current
// context chose it.
func TestWhereThroughContexts(t *testing.T) {
	dockerConfig(t, "far", map[string]string{"far": "ssh://deploy@far.example:2222", "here": "tcp://127.0.0.1:2375"})
	if p, err := (Endpoint{}).Where(); err != nil || p.Here || !strings.Contains(p.Source, "current context") {
		t.Errorf("current context far: %+v %v; want another machine, from the current context", p, err)
	}
	if p, err := (Endpoint{Context: "here"}).Where(); err != nil || !p.Here {
		t.Errorf("context here (tcp://127.0.0.1): %+v %v; want this machine", p, err)
	}
	t.Setenv("DOCKER_CONTEXT", "here")
	if p, err := (Endpoint{}).Where(); err != nil || !p.Here || !strings.Contains(p.Source, "DOCKER_CONTEXT") {
		t.Errorf("DOCKER_CONTEXT=here: %+v %v; want this machine, from DOCKER_CONTEXT", p, err)
	}
}
