// This file tests ContainerFile against the real engine and nginx: what
// the archive API does to a file bind-mounted on its own and to one in a
// bind-mounted folder, and a Balancer that edits, reloads and undoes
// through the engine alone, with nginx serving the new membership.
package nginx

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/nonstop-deploy/nonstop/internal/testkit/shellnginx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

// TestContainerFileWrites: through the engine only, a config bind-mounted
// on its own is rewritten in place (same inode, as the container holds
// it) where the image has a shell, refused in preflight where it has
// none, and a config in a bind-mounted folder is written through the
// archive API with its mode kept; each time nginx serves the edit, and
// Undo brings back the exact original bytes.
func TestContainerFileWrites(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	plain, err := testimage.Nginx(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	withShell, err := shellnginx.Image(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	netName := testenv.UniqueName("nonstop-file-test")
	if _, err := cli.NetworkCreate(ctx, netName, network.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), netName) })
	d := &dockerEnv{t: t, cli: cli, image: plain, network: netName, dir: t.TempDir()}
	d.run(ctx, testenv.UniqueName("nonstop-a"), backendConf("A"), "appa")
	d.run(ctx, testenv.UniqueName("nonstop-b"), backendConf("B"), "appb")

	// start runs a proxy nginx from image with binds (rw) and cmd.
	start := func(image string, binds []string, cmd ...string) (name, url string) {
		name = testenv.UniqueName("nonstop-fproxy")
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: image, Cmd: cmd},
			&container.HostConfig{Binds: binds},
			&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: {}}}, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		})
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		url = "http://" + d.ip(ctx, c.ID) + ":80"
		waitHTTP(t, url)
		return name, url
	}
	onlyA := func(t *testing.T, url string) {
		t.Helper()
		for i := 0; i < 6; i++ {
			resp, err := httpClient.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if body := string(b); body != "A" {
				t.Fatalf("request %d answered %q with appb marked down; want only A", i, body)
			}
		}
	}
	ino := func(p string) uint64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	// roll marks appb down through f and undoes it, checking what nginx
	// serves and the file's bytes on the engine's host (src) each time.
	roll := func(t *testing.T, rt Runtime, path, src, url string, f File) {
		b := New(Options{ConfigPath: path, Upstream: "apps", Runtime: rt, File: f})
		if err := b.Check(ctx, []string{"appa:80", "appb:80"}); err != nil {
			t.Fatalf("Check: %v", err)
		}
		orig, _ := os.ReadFile(src)
		want, err := SetDown(orig, "apps", "appb:80", true)
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.MarkDown(ctx, "appb:80")
		if err != nil {
			t.Fatalf("MarkDown: %v", err)
		}
		if got, _ := os.ReadFile(src); string(got) != string(want) {
			t.Fatalf("after MarkDown the file holds:\n%s\nwant:\n%s", got, want)
		}
		if c.Config != filepath.Clean(path) {
			t.Errorf("Change.Config = %q, want %q (what the plan names, for the journal)", c.Config, path)
		}
		onlyA(t, url)
		if err := b.Undo(ctx, c); err != nil {
			t.Fatalf("Undo: %v", err)
		}
		if got, _ := os.ReadFile(src); string(got) != string(orig) {
			t.Fatalf("after Undo the file is not byte-identical to the original:\n%s", got)
		}
	}

	t.Run("SingleFileMountWithShell", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "nginx.conf")
		if err := os.WriteFile(src, []byte(proxyConf), 0o644); err != nil {
			t.Fatal(err)
		}
		before := ino(src)
		name, url := start(withShell, []string{src + ":/etc/nginx/nginx.conf"})
		rt := ContainerRuntime(cli, name, "")
		// The path as the container sees it; this machine has no such
		// mount source, so the engine is the only way to the file.
		f, err := ContainerFile(rt, "/etc/nginx/nginx.conf", true)
		if err != nil {
			t.Fatal(err)
		}
		roll(t, rt, "/etc/nginx/nginx.conf", src, url, f)
		// A path the container lacks, that is no mount's source either,
		// is refused with the fix.
		if _, err := mustFile(t, rt, "/etc/nginx/no-such.conf").Read(ctx); !errors.Is(err, ErrNotLoaded) || !strings.Contains(err.Error(), "Fix:") {
			t.Errorf("reading a path the container lacks: %v; want ErrNotLoaded with a fix", err)
		}
		if ino(src) != before {
			t.Errorf("the bind-mounted file was replaced (inode %d -> %d), not rewritten in place", before, ino(src))
		}
		if s := f.String(); !strings.Contains(s, "/etc/nginx/nginx.conf in container") {
			t.Errorf("File.String() = %q; want the name in the container", s)
		}
	})

	t.Run("SingleFileMountWithoutShellIsRefused", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "nginx.conf")
		if err := os.WriteFile(src, []byte(proxyConf), 0o644); err != nil {
			t.Fatal(err)
		}
		name, _ := start(plain, []string{src + ":/etc/nginx/nginx.conf"})
		rt := ContainerRuntime(cli, name, "")
		// As for an engine on another machine: the path is the mount's
		// source there, so it is mapped into the container.
		f, err := ContainerFile(rt, src, false)
		if err != nil {
			t.Fatal(err)
		}
		err = New(Options{ConfigPath: src, Upstream: "apps", Runtime: rt, File: f}).Check(ctx, []string{"appb:80"})
		if err == nil || !strings.Contains(err.Error(), "bind-mounted on its own") || !strings.Contains(err.Error(), "Fix:") {
			t.Fatalf("Check = %v; want the refusal naming the single-file mount and the fix", err)
		}
		t.Logf("refusal: %v", err)
		if got, _ := os.ReadFile(src); string(got) != proxyConf {
			t.Errorf("the refused check changed the file")
		}
	})

	t.Run("FolderMountThroughArchive", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(src, []byte(proxyConf), 0o640); err != nil {
			t.Fatal(err)
		}
		name, url := start(plain, []string{dir + ":/etc/nginx/site"}, "nginx", "-c", "/etc/nginx/site/nginx.conf", "-g", "daemon off;")
		rt := ContainerRuntime(cli, name, "")
		f, err := ContainerFile(rt, src, false) // the engine host's path, mapped through the mount
		if err != nil {
			t.Fatal(err)
		}
		roll(t, rt, src, src, url, f)
		if s := f.String(); !strings.Contains(s, "/etc/nginx/site/nginx.conf in container") {
			t.Errorf("File.String() = %q; want the name in the container", s)
		}
		if fi, err := os.Stat(src); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("mode after the writes: %v %v; want 0640 kept", fi.Mode(), err)
		}
	})
}

// mustFile is ContainerFile for an engine elsewhere.
func mustFile(t *testing.T, rt Runtime, path string) File {
	t.Helper()
	f, err := ContainerFile(rt, path, false)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
