package testimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// TestNginxLuaImage: the Lua image loads Debian's modules, runs Lua with
// resty.core and ngx.balancer (what nonstop.lua requires), and is a
// different tag from the plain image.
func TestNginxLuaImage(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.NginxBinary(t)
	for _, m := range LuaModules {
		if _, err := os.Stat(m); err != nil {
			if testenv.InCI() {
				t.Fatalf("CI=true but %v (apt-get install -y libnginx-mod-http-lua)", err)
			}
			t.Skipf("%v (apt-get install -y libnginx-mod-http-lua)", err)
		}
	}
	ctx := context.Background()
	start := time.Now()
	ref, err := NginxLua(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NginxLua() = %s in %s", ref, time.Since(start).Round(time.Millisecond))
	if plain, err := Nginx(ctx, cli); err != nil || plain == ref {
		t.Fatalf("Nginx() = %s, %v: want a tag apart from %s", plain, err, ref)
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`load_module %s;
load_module %s;
events {}
http {
    server {
        listen 80;
        location / {
            content_by_lua_block {
                local b = require "ngx.balancer"
                ngx.say("lua ", type(b.set_current_peer))
            }
        }
    }
}
`, LuaModules[0], LuaModules[1])
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := nat.Port("80/tcp")
	c, err := cli.ContainerCreate(ctx,
		&container.Config{Image: ref, ExposedPorts: nat.PortSet{p: {}}, Labels: map[string]string{"nonstop.test": "testimage"}},
		&container.HostConfig{PortBindings: nat.PortMap{p: {{HostIP: "127.0.0.1"}}},
			Binds: []string{filepath.Join(dir, "nginx.conf") + ":/etc/nginx/nginx.conf:ro"}},
		nil, nil, testenv.UniqueName("nonstop-testimage-lua"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs(cli, c.ID))
		}
		_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	})
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	ins, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:" + ins.NetworkSettings.Ports[p][0].HostPort
	if code, body := get(t, url+"/"); code != 200 || body != "lua function\n" {
		t.Fatalf("GET /: %d %q", code, body)
	}
}
