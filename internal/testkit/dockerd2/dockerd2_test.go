// This file tests the second engine itself: it starts, runs a published
// container from an image loaded from the main engine, and leaves nothing
// behind (process, bridge, folder) once closed.
package dockerd2

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

func TestSecondEngine(t *testing.T) {
	cli := testenv.Docker(t)
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("CI=true but a second dockerd needs root")
		}
		t.Skip("a second dockerd needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img, err := testimage.App(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Start(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = e.Close(context.Background())
		}
	})
	mainInfo, _ := cli.Info(ctx)
	info, err := e.Client.Info(ctx)
	if err != nil || info.DockerRootDir == mainInfo.DockerRootDir {
		t.Fatalf("second engine (root %s) is not another engine than the main one (root %s): %v", info.DockerRootDir, mainInfo.DockerRootDir, err)
	}
	if err := e.LoadImage(ctx, cli, img); err != nil {
		t.Fatal(err)
	}
	port := nat.Port("3000/tcp")
	c, err := e.Client.ContainerCreate(ctx, &container.Config{Image: img, Env: []string{"MESSAGE=second"}, ExposedPorts: nat.PortSet{port: {}}},
		&container.HostConfig{PortBindings: nat.PortMap{port: {{HostIP: "127.0.0.1"}}}}, nil, nil, testenv.UniqueName("nonstop-d2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Client.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	ins, err := e.Client.ContainerInspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:" + ins.NetworkSettings.Ports[port][0].HostPort + "/"
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if body = string(b); strings.Contains(body, "second") {
				break
			}
		}
	}
	if !strings.Contains(body, "second") {
		t.Fatalf("the container on the second engine never answered at %s (last %q)", url, body)
	}
	dir, bridge := e.dir, e.bridge
	closed = true
	if err := e.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Close", dir)
	}
	if out, err := exec.Command("ip", "link", "show", bridge).CombinedOutput(); err == nil {
		t.Errorf("bridge %s still exists after Close: %s", bridge, out)
	}
	if e.cmd.ProcessState == nil {
		t.Errorf("dockerd still runs after Close")
	}
}
