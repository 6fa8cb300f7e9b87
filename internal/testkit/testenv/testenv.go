// Package testenv decides whether an integration test can run on this machine.
//
// Integration tests need a real Docker Engine and a real nginx. On a developer
// laptop without them the tests skip with the reason; in CI (CI=true) a missing
// dependency is a failure, because a suite that silently skips its integration
// tests proves nothing.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// InCI reports whether the tests run in CI, where nothing may be skipped.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// unavailable fails the test in CI and skips it elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true but "+format, args...)
	}
	t.Skipf(format, args...)
}

// Docker returns a client for the machine's Docker Engine, with the API
// version negotiated (the engine here speaks 1.41). The test is skipped, or
// failed in CI, when no engine answers.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		unavailable(t, "no Docker client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		unavailable(t, "Docker Engine unreachable: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// NginxBinary returns the path of the host's nginx binary. The test is
// skipped, or failed in CI, when nginx is not installed.
func NginxBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	for _, p := range []string{os.Getenv("NONSTOP_NGINX"), "/usr/sbin/nginx"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	unavailable(t, "nginx is not installed (apt-get install -y nginx-light)")
	return ""
}

// UniqueName returns prefix plus a random suffix, for containers and networks
// on an engine that outlives the test process: names never collide with a
// parallel run or a leftover of a crashed one.
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}
