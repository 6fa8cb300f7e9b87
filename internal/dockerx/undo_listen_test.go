package dockerx

import (
	"net"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// The old container served before the deploy; Undo returns once it
// accepts connections again, not merely once it is started, so a server
// put back into nginx right after never refuses a connection. The test
// app here waits 2s before it listens (START_DELAY).
func TestIntegrationUndoWaitsUntilListening(t *testing.T) {
	e := newITest(t)
	netName := e.network()
	name := testenv.UniqueName("dockerx-slow")
	old := e.run(name, &container.Config{Env: []string{"MESSAGE=a", "START_DELAY=2s"}, ExposedPorts: nat.PortSet{"3000/tcp": {}}},
		&container.HostConfig{NetworkMode: container.NetworkMode(netName)}, nil)
	e.waitBody(name, netName, "Hi there, I love ! a")
	r, err := Replace(e.ctx, e.cli, old, Spec{Image: e.app, Env: map[string]string{"MESSAGE": "b", "START_DELAY": "0s"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := Undo(e.ctx, e.cli, r); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("Undo took %s", took)
	ip, err := ContainerIP(e.ctx, e.cli, name, netName)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "3000"), time.Second)
	if err != nil {
		t.Fatalf("right after Undo (%s), the old container refuses connections: %v", took, err)
	}
	conn.Close()
	if took < 2*time.Second {
		t.Errorf("Undo took %s: it cannot have waited for the 2s start delay", took)
	}
}
