// Command nonstop-demo runs the seed's rolling update live on this machine:
// it builds the demo images offline (the test app from this repository, and
// nginx from the host's Debian nginx), starts the seed's topology (nginx in
// a container load-balancing app1 and app2), shows the answers alternating
// between app1,v1 and app2,v1, runs `plan apply plans/rolling-update.hcl`
// while a request loop keeps going, shows the v2 answers, counts failed
// requests, and removes everything it made.
//
//	make demo        # or: go run ./cmd/nonstop-demo
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
)

func main() {
	keep := flag.Bool("keep", false, "leave the topology running at the end")
	version := flag.String("version", "v2", "the version to roll out")
	flag.Parse()
	if err := run(*keep, *version); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %s\n", err)
		os.Exit(1)
	}
}

func run(keep bool, version string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cli, err := dockerx.Connect("")
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	nginxImage, err := nginxImage(ctx, cli)
	if err != nil {
		return err
	}

	fmt.Println("==> building images and starting the seed's topology (nginx + app1 + app2)")
	topo, err := seedtopo.Start(ctx, cli, seedtopo.Options{Project: fmt.Sprintf("nonstop-demo-%d", os.Getpid()), Log: os.Stdout, NginxImage: nginxImage})
	if err != nil {
		return err
	}
	if !keep {
		defer func() {
			fmt.Println("==> tearing down")
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := topo.Close(cctx); err != nil {
				fmt.Fprintf(os.Stderr, "demo: cleanup: %s\n", err)
			}
		}()
	}

	fmt.Printf("==> nginx answers on %s; the seed's `while true; do curl localhost; done`:\n", topo.URL)
	for i := 0; i < 4; i++ {
		body, err := topo.Get(ctx)
		if err != nil {
			return err
		}
		fmt.Println("    " + strings.TrimSpace(body))
	}

	plan, err := writePlan(topo.Dir)
	if err != nil {
		return err
	}
	bin := filepath.Join(topo.Dir, "plan")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/plan")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building plan: %w", err)
	}

	var requests, failed atomic.Int64
	var last atomic.Value
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the request loop: keeps hitting nginx during the apply
		defer wg.Done()
		hc := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := hc.Get(topo.URL)
			requests.Add(1)
			if err != nil {
				failed.Add(1)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				failed.Add(1)
			}
			last.Store(strings.TrimSpace(string(b)))
		}
	}()

	args := []string{"apply", "-auto-approve",
		"-var", "compose_project=" + topo.Project, "-var", "nginx_container=" + topo.NginxContainer,
		"-var", "image=" + topo.Images.App, "-var", "version=" + version, plan}
	fmt.Printf("==> plan %s\n", strings.Join(args, " "))
	apply := exec.CommandContext(ctx, bin, args...)
	apply.Stdout, apply.Stderr = os.Stdout, os.Stderr
	applyErr := apply.Run()
	close(done)
	wg.Wait()

	fmt.Println("==> after the apply:")
	// New connections: a kept-alive one may still be served by an nginx
	// worker of the previous generation, finishing its last requests.
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 4; i++ {
		resp, err := fresh.Get(topo.URL)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		fmt.Println("    " + strings.TrimSpace(string(b)))
	}
	fmt.Printf("==> %d requests through nginx during the apply, %d failed\n", requests.Load(), failed.Load())
	if keep {
		fmt.Printf("==> left running (project %s); nginx on %s\n", topo.Project, topo.URL)
	}
	return applyErr
}

// writePlan puts the repository's plan next to the topology's
// proxy/nginx.conf, where its relative config path points.
func writePlan(dir string) (string, error) {
	src, err := os.ReadFile("plans/rolling-update.hcl")
	if err != nil {
		return "", fmt.Errorf("run the demo from the repository root: %w", err)
	}
	p := filepath.Join(dir, "rolling-update.hcl")
	return p, os.WriteFile(p, src, 0o644)
}

// nginxImage decides where the demo's nginx comes from: an image built
// offline from this machine's Debian nginx when it has one (""), else the
// official image where a registry answers (a laptop), else Debian's
// nginx-light installed now (a fresh Debian machine with no registry).
func nginxImage(ctx context.Context, cli *client.Client) (string, error) {
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "", nil
	}
	const official = "nginx:stable"
	fmt.Printf("==> no local nginx; pulling %s\n", official)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := dockerx.ImageAvailable(pctx, cli, official, func(string) {}); err == nil {
		return official, nil
	} else {
		fmt.Printf("    could not pull it (%v)\n", err)
	}
	fmt.Println("==> installing Debian's nginx-light to build the nginx image from it")
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "nginx-light")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("no nginx: install Debian's nginx-light (sudo apt-get install -y nginx-light), or let Docker pull %s: %w", official, err)
	}
	return "", nil
}
