// Command nonstop-topology brings the seed's topology (nginx in a container
// load-balancing app1 and app2, the test app, MESSAGE=appN,v1) up on this
// machine's Docker Engine and leaves it running, so that a newcomer can try
// `plan` by hand after `make demo` (docs/tutorial.md); and tears it down
// again. It is internal/testkit/seedtopo behind three commands:
//
//	nonstop-topology up     # build the images offline, start, print where things are
//	nonstop-topology url    # the URL nginx answers on
//	nonstop-topology down   # remove every container, the network and the folder
//
// The topology's folder (default /tmp/nonstop-tutorial, from the name)
// holds proxy/nginx.conf (bind-mounted into nginx), a copy of
// plans/rolling-update.hcl next to it (its config path is relative) and
// topology.vars, the plan's variables for this topology. The name is the
// Compose project name: -name, else $NONSTOP_TOPOLOGY, else
// "nonstop-tutorial"; give another one to run two side by side.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nonstop-deploy/nonstop/internal/dockerx"
	"github.com/nonstop-deploy/nonstop/internal/testkit/seedtopo"
)

// stateFile, in the topology's folder, is what `up` leaves for `url` and
// `down`.
const stateFile = "topology.json"

// state is the content of stateFile.
type state struct {
	Project        string `json:"project"`
	Dir            string `json:"dir"`
	URL            string `json:"url"`
	NginxContainer string `json:"nginx_container"`
	Config         string `json:"config"`
	Plan           string `json:"plan"`
	VarFile        string `json:"var_file"`
	AppImage       string `json:"app_image"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nonstop-topology", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", envOr("NONSTOP_TOPOLOGY", "nonstop-tutorial"), "the topology's (Compose project) `name`")
	dir := fs.String("dir", "", "its folder (default: the temp folder/NAME)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: nonstop-topology [-name NAME] [-dir DIR] up|url|down")
		fmt.Fprintln(stderr, "\n  up    start the seed's topology (nginx + app1 + app2) and leave it running")
		fmt.Fprintln(stderr, "  url   print the URL nginx answers on")
		fmt.Fprintln(stderr, "  down  remove everything up made")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 1
	}
	if *dir == "" {
		*dir = filepath.Join(os.TempDir(), *name)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch fs.Arg(0) {
	case "up":
		err = up(ctx, stdout, *name, *dir)
	case "url":
		var st state
		if st, err = readState(*dir); err == nil {
			fmt.Fprintln(stdout, st.URL)
		}
	case "down":
		err = down(ctx, stdout, *name, *dir)
	default:
		fmt.Fprintf(stderr, "nonstop-topology: unknown command %q\n", fs.Arg(0))
		fs.Usage()
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "nonstop-topology: %s\n", err)
		return 1
	}
	return 0
}

func up(ctx context.Context, stdout io.Writer, name, dir string) error {
	plan, err := os.ReadFile(filepath.Join("plans", "rolling-update.hcl"))
	if err != nil {
		return fmt.Errorf("run it from the repository's root (it copies plans/rolling-update.hcl): %w", err)
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s exists: a topology named %s is up already (nonstop-topology down removes it), or pick another -name", dir, name)
	}
	cli, err := dockerx.Connect("")
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	fmt.Fprintf(stdout, "==> building the images (offline) and starting %s: nginx + app1 + app2\n", name)
	topo, err := seedtopo.Start(ctx, cli, seedtopo.Options{Project: name, Dir: dir, Timeout: 90 * time.Second})
	if err != nil {
		return err
	}
	st := state{
		Project: topo.Project, Dir: topo.Dir, URL: topo.URL, NginxContainer: topo.NginxContainer,
		Config: topo.ConfigPath, Plan: filepath.Join(topo.Dir, "rolling-update.hcl"),
		VarFile: filepath.Join(topo.Dir, "topology.vars"), AppImage: topo.Images.App,
	}
	vars := fmt.Sprintf("# The variables of plans/rolling-update.hcl for the topology %s.\n"+
		"compose_project = %q\nnginx_container = %q\nimage           = %q\n",
		st.Project, st.Project, st.NginxContainer, st.AppImage)
	j, _ := json.MarshalIndent(st, "", "  ")
	if err := errors.Join(
		os.WriteFile(st.Plan, plan, 0o644),
		os.WriteFile(st.VarFile, []byte(vars), 0o644),
		os.WriteFile(filepath.Join(topo.Dir, stateFile), append(j, '\n'), 0o644),
	); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		return errors.Join(err, topo.Close(cctx))
	}
	fmt.Fprintf(stdout, `==> %s is up; it runs until "nonstop-topology down"
    nginx answers on   %s
    nginx container    %s
    nginx config       %s  (bind-mounted on /etc/nginx/nginx.conf)
    apps               %s_app1_1, %s_app2_1  (%s)
    the plan to use    %s
    its variables      %s
next:
    cd %s
    plan apply -watch "$(nonstop-topology url)" -var-file topology.vars rolling-update.hcl
`, st.Project, st.URL, st.NginxContainer, st.Config, st.Project, st.Project, st.AppImage, st.Plan, st.VarFile, st.Dir)
	return nil
}

func down(ctx context.Context, stdout io.Writer, name, dir string) error {
	// Only a folder up made (it holds the state file) is removed.
	project, owned := name, ""
	if st, err := readState(dir); err == nil {
		project, owned = st.Project, dir
	}
	cli, err := dockerx.Connect("")
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	// By labels: also the containers a deploy recreated, and what a failed
	// up left behind.
	if err := seedtopo.Reopen(cli, project, owned, nil).Close(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "==> %s removed: its containers and network", project)
	if owned != "" {
		fmt.Fprintf(stdout, ", and %s", owned)
	}
	fmt.Fprintln(stdout)
	return nil
}

func readState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("no topology in %s: start one with nonstop-topology up", dir)
	}
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
