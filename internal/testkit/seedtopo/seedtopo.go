// Package seedtopo runs the seed's topology on the real Docker Engine: apps
// app1..appN (the test app, MESSAGE=appN,v1) behind an nginx that
// load-balances them with the seed's nginx.conf. Integration tests, the demo
// and the benchmark start one, deploy against it and Close it.
//
// Container mode (the seed's setup) creates what docker-compose (v1) would
// for the seed's docker-compose.yml under a random project name: the network
// <project>_default, containers <project>_appN_1 with the compose labels and
// the service name as network alias, and the nginx container <project>-nginx
// with Dir/proxy/nginx.conf bind-mounted (a single file) on
// /etc/nginx/nginx.conf and port 80 published on a random 127.0.0.1 port.
//
// Host mode runs the host's /usr/sbin/nginx instead (-p Dir -c
// Dir/proxy/nginx.conf, daemonized, pid file Dir/nginx.pid) and the apps
// publish 3000 on fixed free 127.0.0.1 ports, so that a deploy that copies a
// container's port bindings gets the same port back.
//
// Everything created carries the label nonstop.test=<project>; Close removes
// it all, including containers a deploy renamed or recreated (they keep the
// labels), and Sweep removes what crashed runs left behind.
package seedtopo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

// LabelKey marks every container and network seedtopo (and the tests using
// it) create; its value is the project name.
const LabelKey = "nonstop.test"

// composeVersion is the docker-compose version the labels claim: v1, whose
// container names are <project>_<service>_<n>.
const composeVersion = "1.29.2"

// Options configures Start. The zero value is the seed: two apps, nginx in a
// container.
type Options struct {
	// Project is the compose project name; default "nonstop-<8 hex>".
	// Lowercase letters, digits, '-' and '_'.
	Project string
	// Replicas is the number of apps, services app1..appN; default 2.
	Replicas int
	// Message gives each service's MESSAGE; default "<service>,v1". Start
	// tells the apps apart by it, so each must be distinct and non-empty.
	Message func(service string) string
	// HostNginx runs nginx on the host instead of in a container.
	HostNginx bool
	// NginxImage is an nginx image to use as it is (e.g. the official
	// "nginx:stable" where a registry answers); empty builds one offline
	// from the host's Debian nginx.
	NginxImage string
	// AppEnv is extra environment for every app (the test app's fault knobs:
	// FAIL, SLOW, START_DELAY, IGNORE_SIGTERM, CRASH_AFTER). MESSAGE in it is
	// ignored: Message decides. Start accepts any status from an app (FAIL=1
	// bodies end with the MESSAGE too) and waits out START_DELAY.
	AppEnv map[string]string
	// StopTimeout, when > 0, is every app container's stop timeout (docker
	// run --stop-timeout), whole seconds: how long `docker stop` waits
	// after SIGTERM before SIGKILL. Zero keeps the engine's default (10s).
	StopTimeout time.Duration
	// NginxSysctls are set in the nginx container's network namespace
	// (container mode only). The benchmark sets net.ipv4.tcp_tw_reuse=1:
	// the seed's nginx.conf has no upstream keepalive, so under thousands
	// of requests a second nginx leaves a connection per request to the
	// apps in TIME_WAIT and runs out of ephemeral ports within seconds,
	// which throttles the load to the TIME_WAIT expiry rate (a property of
	// the load generator's pace, not of what is measured).
	NginxSysctls map[string]string
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// Timeout bounds the wait for every app to answer through nginx; default 60s.
	Timeout time.Duration
	// Dir, when set, is the folder to create and use as Topology.Dir (it
	// must not exist; Close removes it) instead of a new temp dir: a
	// topology that outlives its process (cmd/nonstop-topology) lives at a
	// path the user can type.
	Dir string
}

// App is one service of the topology.
type App struct {
	Service   string // "app1"
	Container string // "<project>_app1_1"
	ID        string // container ID at Start
	Message   string // its MESSAGE
	Server    string // its address in the upstream: "app1:3000", or "127.0.0.1:<HostPort>" in host mode
	IP        string // container IP on the project network (the host can reach it on Linux)
	HostPort  int    // host mode: the published 127.0.0.1 port of 3000; 0 in container mode
}

// Topology is a running seed topology. Close it.
type Topology struct {
	Project string
	Network string // "<project>_default"
	// Dir is a temp dir holding proxy/nginx.conf; in host mode also nginx's
	// pid file, logs/, tmp/ and conf.d/.
	Dir            string
	ConfigPath     string // Dir/proxy/nginx.conf
	NginxContainer string // "<project>-nginx"; "" in host mode
	NginxPIDFile   string // host mode: Dir/nginx.pid; "" in container mode
	NginxBinary    string // host mode: the nginx binary run
	Apps           []App
	URL            string // "http://127.0.0.1:<port>/", nginx's listener
	Images         struct{ App, Nginx string }

	cli  client.APIClient
	http *http.Client
	log  io.Writer

	closeOnce sync.Once
	closeErr  error
}

var projectRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Start builds the images (cached), creates the network, the apps and nginx,
// and waits until every app has answered through nginx. On error it removes
// what it created.
func Start(ctx context.Context, cli client.APIClient, o Options) (*Topology, error) {
	began := time.Now()
	if o.Project == "" {
		o.Project = randomProject()
	}
	if !projectRE.MatchString(o.Project) {
		return nil, fmt.Errorf("seedtopo: project name %q: want lowercase letters, digits, '-' and '_'", o.Project)
	}
	if o.Replicas == 0 {
		o.Replicas = 2
	}
	if o.Replicas < 0 {
		return nil, fmt.Errorf("seedtopo: Replicas %d", o.Replicas)
	}
	if o.Message == nil {
		o.Message = func(s string) string { return s + ",v1" }
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	t := &Topology{
		Project: o.Project,
		Network: o.Project + "_default",
		cli:     cli,
		log:     o.Log,
		http: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true},
		},
	}
	if t.log == nil {
		t.log = io.Discard
	}
	seen := map[string]bool{}
	for i := 1; i <= o.Replicas; i++ {
		svc := "app" + strconv.Itoa(i)
		msg := o.Message(svc)
		if msg == "" || seen[msg] {
			return nil, fmt.Errorf("seedtopo: Message(%q) = %q: each service needs a distinct non-empty message", svc, msg)
		}
		seen[msg] = true
		t.Apps = append(t.Apps, App{Service: svc, Container: o.Project + "_" + svc + "_1", Message: msg})
	}

	if err := t.start(ctx, o); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if cerr := t.Close(cctx); cerr != nil {
			err = fmt.Errorf("%w\n(cleaning up: %v)", err, cerr)
		}
		return nil, err
	}
	t.logf("topology %s up in %s: %s", t.Project, time.Since(began).Round(time.Millisecond), t.URL)
	return t, nil
}

func (t *Topology) start(ctx context.Context, o Options) error {
	var err error
	step := time.Now()
	if t.Images.App, err = testimage.App(ctx, t.cli); err != nil {
		return fmt.Errorf("seedtopo: test app image: %w", err)
	}
	if o.HostNginx {
		if t.NginxBinary, err = hostNginx(); err != nil {
			return err
		}
	} else if o.NginxImage != "" {
		t.Images.Nginx = o.NginxImage
	} else if t.Images.Nginx, err = testimage.Nginx(ctx, t.cli); err != nil {
		return fmt.Errorf("seedtopo: nginx image: %w", err)
	}
	t.logf("images %s %s in %s", t.Images.App, t.Images.Nginx, time.Since(step).Round(time.Millisecond))

	if o.Dir != "" {
		if t.Dir, err = filepath.Abs(o.Dir); err == nil {
			err = os.Mkdir(t.Dir, 0o755)
		}
		if err != nil {
			t.Dir = "" // not ours: Close must not remove it
			return fmt.Errorf("seedtopo: %w", err)
		}
	} else if t.Dir, err = os.MkdirTemp("", "nonstop-seedtopo-"+t.Project+"-"); err != nil {
		return fmt.Errorf("seedtopo: %w", err)
	}
	// nginx workers on the host run as nobody and must reach Dir/tmp.
	if err := os.Chmod(t.Dir, 0o755); err != nil {
		return fmt.Errorf("seedtopo: %w", err)
	}
	t.ConfigPath = filepath.Join(t.Dir, "proxy", "nginx.conf")
	for _, d := range []string{"proxy", "logs", "tmp", "conf.d"} {
		if err := os.Mkdir(filepath.Join(t.Dir, d), 0o755); err != nil {
			return fmt.Errorf("seedtopo: %w", err)
		}
	}

	step = time.Now()
	if _, err := t.cli.NetworkCreate(ctx, t.Network, network.CreateOptions{
		Driver: "bridge",
		Labels: map[string]string{
			"com.docker.compose.network": "default",
			"com.docker.compose.project": t.Project,
			"com.docker.compose.version": composeVersion,
			LabelKey:                     t.Project,
		},
	}); err != nil {
		return fmt.Errorf("seedtopo: create network %s: %w", t.Network, err)
	}
	// The apps start concurrently: a container start takes the engine about
	// a second here, mostly network setup.
	errs := make([]error, len(t.Apps))
	var wg sync.WaitGroup
	for i := range t.Apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = t.startApp(ctx, &t.Apps[i], o)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	t.logf("network and %d apps in %s", len(t.Apps), time.Since(step).Round(time.Millisecond))

	// Wait for the apps directly before nginx sees them: nginx leaves an app
	// whose first connection fails out of the upstream for fail_timeout (10s).
	deadline := time.Now().Add(o.Timeout)
	step = time.Now()
	if err := t.waitApps(ctx, deadline, o.Timeout); err != nil {
		return err
	}
	t.logf("every app answered directly in %s", time.Since(step).Round(time.Millisecond))

	step = time.Now()
	if o.HostNginx {
		err = t.startHostNginx(ctx)
	} else {
		err = t.startNginxContainer(ctx, o)
	}
	if err != nil {
		return err
	}
	t.logf("nginx at %s in %s", t.URL, time.Since(step).Round(time.Millisecond))

	step = time.Now()
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if answered, last := t.poll(wctx, t.http, t.URL, t.Apps, nil); len(answered) < len(t.Apps) {
		return t.notReady("through nginx at "+t.URL, answered, last, o.Timeout)
	}
	t.logf("every app answered through nginx in %s", time.Since(step).Round(time.Millisecond))
	return nil
}

// waitApps waits until every app answers on its own address: 127.0.0.1:HostPort
// in host mode, its container IP (which the host reaches on Linux) otherwise.
func (t *Topology) waitApps(ctx context.Context, deadline time.Time, timeout time.Duration) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// A connect to the IP of an exited container hangs (no ARP answer): bound
	// the connect, not the request (SLOW apps answer late).
	probe := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{Timeout: time.Second}).DialContext,
	}}
	var mu sync.Mutex
	answered := map[string]bool{}
	lasts := make([]string, len(t.Apps))
	var wg sync.WaitGroup
	for i, a := range t.Apps {
		addr := a.IP + ":3000"
		if a.HostPort != 0 {
			addr = "127.0.0.1:" + strconv.Itoa(a.HostPort)
		} else if a.IP == "" {
			mu.Lock()
			answered[a.Service] = true // no address to probe: nginx will tell
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			running := func() error {
				ins, err := t.cli.ContainerInspect(ctx, a.ID)
				if err == nil && !ins.State.Running {
					return fmt.Errorf("container %s", ins.State.Status)
				}
				return nil
			}
			got, last := t.poll(ctx, probe, "http://"+addr+"/", []App{a}, running)
			mu.Lock()
			defer mu.Unlock()
			for k := range got {
				answered[k] = true
			}
			lasts[i] = a.Service + ": " + last
		}()
	}
	wg.Wait()
	if len(answered) < len(t.Apps) {
		var last []string
		for i, a := range t.Apps {
			if !answered[a.Service] {
				last = append(last, lasts[i])
			}
		}
		return t.notReady("directly", answered, strings.Join(last, "; "), timeout)
	}
	return nil
}

func (t *Topology) logf(format string, args ...any) {
	fmt.Fprintf(t.log, "seedtopo: "+format+"\n", args...)
}

func randomProject() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "nonstop-" + hex.EncodeToString(b[:])
}

// composeLabels are the labels docker-compose v1 puts on a service's container.
func (t *Topology) composeLabels(service string, config any) map[string]string {
	j, _ := json.Marshal(config)
	sum := sha256.Sum256(j)
	return map[string]string{
		"com.docker.compose.project":             t.Project,
		"com.docker.compose.project.working_dir": t.Dir,
		"com.docker.compose.service":             service,
		"com.docker.compose.container-number":    "1",
		"com.docker.compose.oneoff":              "False",
		"com.docker.compose.config-hash":         hex.EncodeToString(sum[:]),
		"com.docker.compose.version":             composeVersion,
		LabelKey:                                 t.Project,
	}
}

func (t *Topology) startApp(ctx context.Context, a *App, o Options) error {
	env := []string{}
	keys := make([]string, 0, len(o.AppEnv))
	for k := range o.AppEnv {
		if k != "MESSAGE" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+o.AppEnv[k])
	}
	env = append(env, "MESSAGE="+a.Message)

	port := nat.Port("3000/tcp")
	cfg := &container.Config{
		Image:        t.Images.App,
		Env:          env,
		ExposedPorts: nat.PortSet{port: {}},
	}
	if o.StopTimeout > 0 {
		secs := int(o.StopTimeout.Round(time.Second) / time.Second)
		cfg.StopTimeout = &secs
	}
	cfg.Labels = t.composeLabels(a.Service, cfg)
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(t.Network)}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		t.Network: {Aliases: []string{a.Service}},
	}}

	// Host mode publishes on a port chosen here, not by the engine (HostPort
	// ""), so the binding is in the container's HostConfig and a recreated
	// container gets the same port. Another process may grab the port between
	// the pick and the start: retry with a new one.
	for attempt := 1; ; attempt++ {
		if o.HostNginx {
			p, err := freePort()
			if err != nil {
				return fmt.Errorf("seedtopo: %w", err)
			}
			a.HostPort = p
			a.Server = "127.0.0.1:" + strconv.Itoa(p)
			hc.PortBindings = nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(p)}}}
		} else {
			a.Server = a.Service + ":3000"
		}
		c, err := t.cli.ContainerCreate(ctx, cfg, hc, nc, nil, a.Container)
		if err != nil {
			return fmt.Errorf("seedtopo: create %s: %w", a.Container, err)
		}
		a.ID = c.ID
		err = t.cli.ContainerStart(ctx, c.ID, container.StartOptions{})
		if err == nil {
			break
		}
		if o.HostNginx && attempt < 5 && portTaken(err) {
			_ = t.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
			continue
		}
		return fmt.Errorf("seedtopo: start %s: %w", a.Container, err)
	}
	ins, err := t.cli.ContainerInspect(ctx, a.ID)
	if err != nil {
		return fmt.Errorf("seedtopo: inspect %s: %w", a.Container, err)
	}
	if ep := ins.NetworkSettings.Networks[t.Network]; ep != nil {
		a.IP = ep.IPAddress
	}
	return nil
}

func portTaken(err error) bool {
	s := err.Error()
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}

// freePort returns a 127.0.0.1 TCP port that was free a moment ago.
// freePort returns a free loopback port below Linux's ephemeral range
// (32768-60999): a port taken from that range can be handed out again as
// the local port of an outgoing connection (nginx's to its upstreams, say)
// and then be "already in use" when a deploy's new container binds it.
func freePort() (int, error) {
	for range 200 {
		port := 20000 + mrand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("seedtopo: no free port in 20000-31999")
}

func (t *Topology) services() []string {
	s := make([]string, len(t.Apps))
	for i, a := range t.Apps {
		s[i] = a.Service
	}
	return s
}
