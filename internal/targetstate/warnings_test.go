package targetstate

// This file tests the warning about a state folder no mount holds.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/nonstop-deploy/nonstop/internal/testkit/shellnginx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

func TestWarnings(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bare := shellNginx(t, ctx, cli)
	if w := New(cli, bare, stateDir).Warnings(ctx); len(w) != 1 || !strings.Contains(w[0], "lost") || !strings.Contains(w[0], "Mount a volume at /var/lib/nonstop") {
		t.Errorf("a state folder in the container's layer: warnings %q", w)
	}

	img, err := shellnginx.Image(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	vol := testenv.UniqueName("nonstop-tstate-vol")
	name := testenv.UniqueName("nonstop-tstate")
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: img}, &container.HostConfig{NetworkMode: "none",
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: "/var/lib/nonstop"}}}, nil, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		_ = cli.VolumeRemove(context.Background(), vol, true)
	})
	if w := New(cli, name, stateDir).Warnings(ctx); len(w) != 0 {
		t.Errorf("a state folder on a volume: warnings %q", w)
	}
}
