package dockerx

import (
	"context"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/versions"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

func TestConnectUnreachable(t *testing.T) {
	for _, host := range []string{"unix:///nonexistent/docker.sock", "tcp://127.0.0.1:1"} {
		cli, err := Connect(host)
		if err == nil {
			cli.Close()
			t.Errorf("Connect(%s) succeeded", host)
			continue
		}
		for _, want := range []string{"does not answer", "Is the Docker daemon running", "docker block"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Connect(%s) error %q does not say %q", host, err, want)
			}
		}
	}
	for _, host := range []string{"bogus://x"} {
		if _, err := Connect(host); err == nil || !strings.Contains(err.Error(), "engine address") {
			t.Errorf("Connect(%s) = %v", host, err)
		}
	}
}

func TestIntegrationConnect(t *testing.T) {
	testenv.Docker(t) // skips, or fails in CI, without an engine
	cli, err := Connect("")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	sv, err := cli.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v := cli.ClientVersion(); versions.GreaterThan(v, sv.APIVersion) {
		t.Errorf("client speaks API %s, the engine %s: not negotiated", v, sv.APIVersion)
	} else {
		t.Logf("negotiated API version %s (engine %s)", v, sv.Version)
	}
}
