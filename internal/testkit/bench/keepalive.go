// This file holds the seed-keepalive topology: the seed's with `keepalive`
// in the upstream (and the Connection header cleared so that nginx reuses
// its connections to the apps), as production configs have. Every reload
// closes those idle connections too. plan-apply-dynamic's nginx
// (plans/proxy-dynamic/nginx.conf) always has them.
package bench

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
)

// SeedKeepAlive is the seed with upstream keep-alive (an extra topology,
// chosen with -topologies).
var SeedKeepAlive = Topology{Name: "seed-keepalive", Replicas: 2, KeepAlive: true}

// upstreamKeepAlive rewrites t's nginx.conf (in place: it is bind-mounted
// as a single file) with `keepalive 16;` in upstream apps and an empty
// Connection header to the apps, and reloads nginx once, before any load.
func upstreamKeepAlive(ctx context.Context, cli client.APIClient, t *seedtopo.Topology) error {
	b, err := os.ReadFile(t.ConfigPath)
	if err != nil {
		return err
	}
	src := string(b)
	var last string
	for _, a := range t.Apps {
		last = fmt.Sprintf("        server %s;\n", a.Server)
	}
	const conn = `proxy_set_header Connection 'upgrade';`
	if !strings.Contains(src, last) || !strings.Contains(src, conn) {
		return fmt.Errorf("seed-keepalive: the seed's nginx.conf has no %q or %q to change", strings.TrimSpace(last), conn)
	}
	src = strings.Replace(src, last, last+"        keepalive 16;\n", 1)
	src = strings.Replace(src, conn, `proxy_set_header Connection "";`, 1)
	f, err := os.OpenFile(t.ConfigPath, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(src); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	code, out, err := dockerx.Exec(ctx, cli, t.NginxContainer, []string{"nginx", "-s", "reload"})
	if err != nil {
		return fmt.Errorf("seed-keepalive: nginx -s reload: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("seed-keepalive: nginx -s reload exited %d: %s", code, strings.TrimSpace(out))
	}
	return nil
}
