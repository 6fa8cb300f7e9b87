// This file tests the reload-free backend's files (dynamic_file.go)
// against the real engine and a real nginx: ContainerStateFile through the
// archive API (an image without a shell), by temp file + rename in the
// container (an image with sh, cat and mv), and as this machine's file
// (an engine here, a bind-mounted folder); and the Lua module refusing a
// torn state file.
package nginx

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/shellnginx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

// TestDynamicRefusesTornState: a state file whose start and end are
// whole but whose length is not its size line's (newer text written over
// an older, longer one) is not used by the Lua side, which keeps the
// membership it had; the whole file is used at once.
func TestDynamicRefusesTornState(t *testing.T) {
	entered := make(chan string, 16)
	a := newBackend(t, "a", entered, 0)
	b := newBackend(t, "b", entered, 0)
	n := startDynamicNginx(t, true, 0o777, a.addr(), b.addr())
	ctx := context.Background()
	d := n.dynamic(DynamicOptions{})
	if _, err := d.MarkDown(ctx, a.addr()); err != nil {
		t.Fatal(err)
	}
	st, err := d.readState(ctx, statePath(n.state, "apps"))
	if err != nil || st == nil {
		t.Fatal(st, err)
	}
	st.Version++
	st.peer(a.addr()).Down, st.peer(b.addr()).Down = false, true
	whole := st.marshal()
	torn := append(append([]byte{}, whole...), "server c:80 - 1 0 0\nend\n"...)
	if err := os.WriteFile(statePath(n.state, "apps"), torn, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // ten ticks of the Lua timer
	if seen := hits(t, n.url, 10); seen["a"] != 0 || seen["b"] != 10 {
		t.Fatalf("after a torn state file, want the previous membership (only b), got %v", seen)
	}
	if ack, err := d.readAck(ctx, ackPath(n.state, "apps")); err != nil || ack == nil || ack.Version != st.Version-1 {
		t.Fatalf("after a torn state file, want version %d still acked, got %+v, %v", st.Version-1, ack, err)
	}
	if err := os.WriteFile(statePath(n.state, "apps"), whole, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.waitAck(ctx, n.state, st.Version); err != nil {
		t.Fatalf("the whole file: %v", err)
	}
	if seen := hits(t, n.url, 10); seen["a"] != 10 {
		t.Fatalf("after the whole state file, want only a, got %v", seen)
	}
}

// mvImage is the shell image (sh, cat) with this machine's /bin/mv and
// the libraries it links, as the official nginx images have it.
func mvImage(ctx context.Context, t *testing.T, cli client.APIClient) string {
	t.Helper()
	base, err := shellnginx.Image(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"mv": "/bin/mv"}
	dockerfile := "FROM " + base + "\nCOPY mv /bin/mv\n"
	for _, lib := range []string{"libselinux.so.1", "libacl.so.1", "libattr.so.1", "libpcre2-8.so.0"} {
		p := "/lib/x86_64-linux-gnu/" + lib
		files[lib] = p
		dockerfile += "COPY " + lib + " " + p + "\n"
	}
	h := sha256.New()
	h.Write([]byte(dockerfile))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	add("Dockerfile", 0o644, []byte(dockerfile))
	for name, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (this test copies mv and its libraries from this machine)", err)
		}
		h.Write(data)
		add(name, 0o755, data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	ref := "nonstop-nginx-mv:" + hex.EncodeToString(h.Sum(nil))[:12]
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("building %s: %s", ref, out)
	}
	return ref
}

// TestContainerStateFile: a state file inside an nginx container's own
// layer, through the engine only: a missing one reads as fs.ErrNotExist,
// a write creates it (mode 0644) and replaces it whole; where the image
// has sh, cat and mv the replacement is a new file renamed over the old
// one (its mode 0600 becomes 0644, no temp file left); elsewhere the
// archive API writes it. With the engine here and the folder bind-mounted,
// it is this machine's file.
func TestContainerStateFile(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	plain, err := testimage.Nginx(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	withMv := mvImage(ctx, t, cli)
	run := func(image string, binds []string) Runtime {
		name := testenv.UniqueName("nonstop-statefile")
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: image}, &container.HostConfig{Binds: binds}, nil, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		})
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		return ContainerRuntime(cli, name, "")
	}
	put := func(rt Runtime, name string, mode int64, data []byte) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Name: filepath.Base(name), Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data))})
		_, _ = tw.Write(data)
		_ = tw.Close()
		if err := cli.CopyToContainer(ctx, rt.(*containerRuntime).container, filepath.Dir(name), &buf, container.CopyToContainerOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mode := func(rt Runtime, name string) os.FileMode {
		st, err := cli.ContainerStatPath(ctx, rt.(*containerRuntime).container, name)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode.Perm()
	}
	s1 := (&state{Version: 1, Peers: []statePeer{{Name: "a:80", Addr: "10.0.0.1:80"}}}).marshal()
	s2 := (&state{Version: 2, Peers: []statePeer{{Name: "a:80", Down: true}}}).marshal()

	for _, c := range []struct {
		name, image string
		shell       int
	}{{"archive API (no shell)", plain, -1}, {"rename in the container", withMv, 1}} {
		t.Run(c.name, func(t *testing.T) {
			rt := run(c.image, nil)
			const name = "/etc/nginx/conf.d/apps.state"
			f, err := ContainerStateFile(rt, name, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Read(ctx); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("reading a missing state file: want fs.ErrNotExist, got %v", err)
			}
			put(rt, name, 0o600, s1)
			if got, err := f.Read(ctx); err != nil || !bytes.Equal(got, s1) {
				t.Fatalf("Read: %q, %v", got, err)
			}
			if err := f.Write(ctx, s2); err != nil {
				t.Fatal(err)
			}
			if got, err := f.Read(ctx); err != nil || !bytes.Equal(got, s2) {
				t.Fatalf("after Write, Read: %q, %v", got, err)
			}
			if m := mode(rt, name); m != 0o644 {
				t.Errorf("mode after Write %o, want 644 (a new file replacing the old one)", m)
			}
			if sf := f.(*stateFile); sf.shell != c.shell || sf.local != nil {
				t.Errorf("written with shell=%d local=%v, want shell=%d through the engine", sf.shell, sf.local, c.shell)
			}
			if _, err := cli.ContainerStatPath(ctx, rt.(*containerRuntime).container, name+".nonstop-tmp"); !cerrdefs.IsNotFound(err) {
				t.Errorf("temp file left behind (stat: %v)", err)
			}
		})
	}

	t.Run("bind-mounted folder, engine here", func(t *testing.T) {
		dir := t.TempDir()
		rt := run(plain, []string{dir + ":/etc/nginx/nonstop"})
		f, err := ContainerStateFile(rt, "/etc/nginx/nonstop/apps.state", true)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Write(ctx, s1); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "apps.state")); err != nil || !bytes.Equal(got, s1) {
			t.Fatalf("this machine's file: %q, %v", got, err)
		}
		if !strings.HasPrefix(f.String(), dir) {
			t.Errorf("String %q: want this machine's path first", f)
		}
	})
}
