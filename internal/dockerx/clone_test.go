package dockerx

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/go-connections/nat"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	oldID    = "3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"
	oldShort = "3f1c2a9b8d7e"
)

// composeOld is what Docker 20.10 returns when inspecting a container that
// `docker compose up` created for service "app" of project "shop" from an image
// with ENV, CMD, a label and a VOLUME: the inspect result merges the image's
// defaults into Config, and Aliases carry the short ID the engine added.
func composeOld() container.InspectResponse {
	stop := 20
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID:    oldID,
			Name:  "/shop-app-1",
			Image: "sha256:oldimage",
			State: &container.State{Status: "running", Running: true},
			HostConfig: &container.HostConfig{
				Binds:           []string{"/srv/conf:/etc/app:ro", "shop_data:/var/lib/app:rw"},
				ContainerIDFile: "/tmp/cid",
				LogConfig:       container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m"}},
				NetworkMode:     "shop_default",
				PortBindings:    nat.PortMap{"3000/tcp": {{HostIP: "127.0.0.1", HostPort: "8080"}}},
				RestartPolicy:   container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
				CapAdd:          strslice.StrSlice{"CAP_NET_ADMIN"},
				ExtraHosts:      []string{"db.local:127.0.0.1"},
				Links:           []string{"/shop-db-1:/shop-app-1/db"},
				Tmpfs:           map[string]string{"/run": "size=1m"},
				Mounts: []mount.Mount{
					{Type: mount.TypeVolume, Target: "/cache"}, // --mount type=volume without source
				},
			},
		},
		Config: &container.Config{
			Hostname:     oldShort,
			User:         "",
			ExposedPorts: nat.PortSet{"3000/tcp": {}, "9090/tcp": {}},
			Env: []string{
				"MESSAGE=a",
				"NODE_ENV=production", // user override of the image's value
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/bin:/bin",
				"APP_VERSION=1",
			},
			Cmd:         strslice.StrSlice{"app", "serve"},
			Image:       "hello:v1",
			WorkingDir:  "/app",
			Entrypoint:  nil,
			Volumes:     map[string]struct{}{"/data": {}},
			StopSignal:  "SIGTERM",
			StopTimeout: &stop,
			Labels: map[string]string{
				"com.docker.compose.project":       "shop",
				"com.docker.compose.service":       "app",
				"org.opencontainers.image.version": "1",
				"maintainer":                       "someone-else", // overrides the image's
				"team":                             "web",
			},
		},
		Mounts: []container.MountPoint{
			{Type: mount.TypeBind, Source: "/srv/conf", Destination: "/etc/app", RW: false},
			{Type: mount.TypeVolume, Name: "shop_data", Destination: "/var/lib/app", RW: true},
			{Type: mount.TypeVolume, Name: "4a5b6c7d8e9fanon", Destination: "/data", RW: true},
			{Type: mount.TypeVolume, Name: "0011223344cache", Destination: "/cache", RW: true},
		},
		NetworkSettings: &container.NetworkSettings{
			Networks: map[string]*network.EndpointSettings{
				"shop_default": {
					Aliases:     []string{"app", oldShort, "shop-app-1"},
					NetworkID:   "net1",
					EndpointID:  "ep1",
					Gateway:     "172.20.0.1",
					IPAddress:   "172.20.0.5",
					IPPrefixLen: 16,
					MacAddress:  "02:42:ac:14:00:05",
				},
				"shop_back": {
					Aliases:    []string{oldShort, "api"},
					IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "10.9.0.7"},
					NetworkID:  "net2",
					IPAddress:  "10.9.0.7",
					MacAddress: "02:42:0a:09:00:07",
				},
				"shop_mon": {
					Aliases:    []string{oldShort},
					IPAMConfig: &network.EndpointIPAMConfig{}, // empty: the engine's, not the user's
					NetworkID:  "net3",
					IPAddress:  "10.10.0.3",
				},
			},
		},
	}
}

func oldImage() image.InspectResponse {
	return image.InspectResponse{
		ID: "sha256:oldimage",
		Config: &dockerspec.DockerOCIImageConfig{
			ImageConfig: ocispec.ImageConfig{
				ExposedPorts: map[string]struct{}{"3000/tcp": {}},
				Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/bin:/bin", "NODE_ENV=development", "APP_VERSION=1"},
				Cmd:          []string{"app", "serve"},
				WorkingDir:   "/app",
				Volumes:      map[string]struct{}{"/data": {}},
				StopSignal:   "SIGTERM",
				Labels:       map[string]string{"org.opencontainers.image.version": "1", "maintainer": "image-author"},
			},
		},
	}
}

func newImage() image.InspectResponse {
	return image.InspectResponse{
		ID: "sha256:newimage",
		Config: &dockerspec.DockerOCIImageConfig{
			ImageConfig: ocispec.ImageConfig{
				Env: []string{"PATH=/bin", "APP_VERSION=2"},
				Cmd: []string{"app", "serve", "--v2"},
			},
		},
	}
}

// expectedConfig is what CloneConfig makes of composeOld with MESSAGE=b; each
// case below changes the input and the part of the output it is about.
func expectedConfig() (*container.Config, *container.HostConfig, *network.NetworkingConfig, map[string]*network.EndpointSettings) {
	stop := 20
	cfg := &container.Config{
		Image:        "hello:v2",
		ExposedPorts: nat.PortSet{"3000/tcp": {}, "9090/tcp": {}},
		Env:          []string{"MESSAGE=b", "NODE_ENV=production"},
		StopTimeout:  &stop,
		Labels: map[string]string{
			"com.docker.compose.project": "shop",
			"com.docker.compose.service": "app",
			"maintainer":                 "someone-else",
			"team":                       "web",
			ReplacesLabel:                oldID,
		},
	}
	hc := &container.HostConfig{
		Binds:         []string{"/srv/conf:/etc/app:ro", "shop_data:/var/lib/app:rw"},
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m"}},
		NetworkMode:   "shop_default",
		PortBindings:  nat.PortMap{"3000/tcp": {{HostIP: "127.0.0.1", HostPort: "8080"}}},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		CapAdd:        strslice.StrSlice{"CAP_NET_ADMIN"},
		ExtraHosts:    []string{"db.local:127.0.0.1"},
		Links:         []string{"shop-db-1:db"},
		Tmpfs:         map[string]string{"/run": "size=1m"},
		Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: "0011223344cache", Target: "/cache"},
			{Type: mount.TypeVolume, Source: "4a5b6c7d8e9fanon", Target: "/data"},
		},
	}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		"shop_default": {Aliases: []string{"app", "shop-app-1"}},
	}}
	extra := map[string]*network.EndpointSettings{
		"shop_back": {Aliases: []string{"api"}, IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "10.9.0.7", LinkLocalIPs: []string{}}},
		"shop_mon":  {},
	}
	return cfg, hc, netCfg, extra
}

func TestCloneConfig(t *testing.T) {
	spec := Spec{Image: "hello:v2", Env: map[string]string{"MESSAGE": "b"}}
	tests := []struct {
		name string
		old  func(*container.InspectResponse)
		img  func(*image.InspectResponse) // changes the old image
		spec func(*Spec)
		want func(*container.Config, *container.HostConfig, **network.NetworkingConfig, *map[string]*network.EndpointSettings)
	}{
		{
			name: "compose container: aliases minus short ID, env, labels, ports, mounts",
		},
		{
			name: "env: new keys appended in key order, removed image entries can be set again",
			spec: func(s *Spec) { s.Env = map[string]string{"ZED": "z", "MESSAGE": "b", "APP_VERSION": "3", "ALPHA": "1"} },
			want: func(c *container.Config, _ *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.Env = []string{"MESSAGE=b", "NODE_ENV=production", "ALPHA=1", "APP_VERSION=3", "ZED=z"}
			},
		},
		{
			name: "env: no spec env keeps the user's env only",
			spec: func(s *Spec) { s.Env = nil },
			want: func(c *container.Config, _ *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.Env = []string{"MESSAGE=a", "NODE_ENV=production"}
			},
		},
		{
			name: "cmd copied when it differs from the image's",
			old:  func(o *container.InspectResponse) { o.Config.Cmd = strslice.StrSlice{"app", "worker"} },
			want: func(c *container.Config, _ *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.Cmd = strslice.StrSlice{"app", "worker"}
			},
		},
		{
			name: "entrypoint set by the user: entrypoint and cmd copied",
			old: func(o *container.InspectResponse) {
				o.Config.Entrypoint = strslice.StrSlice{"/bin/tini", "--"}
				o.Config.Cmd = nil // Docker does not inherit the image CMD then
			},
			want: func(c *container.Config, _ *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.Entrypoint = strslice.StrSlice{"/bin/tini", "--"}
			},
		},
		{
			name: "entrypoint reset to nothing stays reset, not inherited",
			old:  func(o *container.InspectResponse) { o.Config.Entrypoint = strslice.StrSlice{} },
			img:  func(i *image.InspectResponse) { i.Config.Entrypoint = []string{"/entry.sh"} },
			want: func(c *container.Config, _ *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.Entrypoint = strslice.StrSlice{}
				c.Cmd = strslice.StrSlice{"app", "serve"}
			},
		},
		{
			name: "user, working dir, stop signal only when not the image's",
			old: func(o *container.InspectResponse) {
				o.Config.User = "1000:1000"
				o.Config.WorkingDir = "/srv"
				o.Config.StopSignal = "SIGQUIT"
			},
			want: func(c *container.Config, _ *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.User = "1000:1000"
				c.WorkingDir = "/srv"
				c.StopSignal = "SIGQUIT"
			},
		},
		{
			name: "healthcheck from the image is left to the new image",
			old: func(o *container.InspectResponse) {
				o.Config.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "/health"}, Interval: time.Second}
			},
			img: func(i *image.InspectResponse) {
				i.Config.Healthcheck = &dockerspec.HealthcheckConfig{Test: []string{"CMD", "/health"}, Interval: time.Second}
			},
		},
		{
			name: "healthcheck set by the user is kept",
			old: func(o *container.InspectResponse) {
				o.Config.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "/health", "--deep"}, Interval: 2 * time.Second, Retries: 3}
			},
			img: func(i *image.InspectResponse) {
				i.Config.Healthcheck = &dockerspec.HealthcheckConfig{Test: []string{"CMD", "/health"}, Interval: time.Second}
			},
			want: func(c *container.Config, _ *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "/health", "--deep"}, Interval: 2 * time.Second, Retries: 3}
			},
		},
		{
			name: "custom hostname kept",
			old: func(o *container.InspectResponse) {
				o.Config.Hostname = "app-host"
				o.Config.Domainname = "example.test"
			},
			want: func(c *container.Config, _ *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.Hostname = "app-host"
				c.Domainname = "example.test"
			},
		},
		{
			name: "empty spec image keeps the old image name",
			spec: func(s *Spec) { s.Image = "" },
			want: func(c *container.Config, _ *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.Image = "hello:v1"
			},
		},
		{
			name: "no labels from the image, no ports exposed by the image only",
			old: func(o *container.InspectResponse) {
				o.Config.ExposedPorts = nat.PortSet{"3000/tcp": {}}
				o.HostConfig.PortBindings = nil
			},
			want: func(c *container.Config, h *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.ExposedPorts = nil
				h.PortBindings = nil
			},
		},
		{
			name: "published port not exposed anywhere gets exposed",
			old: func(o *container.InspectResponse) {
				o.HostConfig.PortBindings["5000/udp"] = []nat.PortBinding{{HostPort: "5000"}}
			},
			want: func(c *container.Config, h *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				c.ExposedPorts["5000/udp"] = struct{}{}
				h.PortBindings["5000/udp"] = []nat.PortBinding{{HostPort: "5000"}}
			},
		},
		{
			name: "default bridge: no endpoint config, user network attached after create",
			old: func(o *container.InspectResponse) {
				o.HostConfig.NetworkMode = "default"
				o.NetworkSettings.Networks = map[string]*network.EndpointSettings{
					"bridge":  {NetworkID: "b", IPAddress: "172.17.0.2", MacAddress: "02:42:ac:11:00:02"},
					"backend": {Aliases: []string{oldShort, "app"}, NetworkID: "n", IPAddress: "172.30.0.2"},
				}
			},
			want: func(_ *container.Config, h *container.HostConfig, n **network.NetworkingConfig, x *map[string]*network.EndpointSettings) {
				h.NetworkMode = "default"
				*n = nil
				*x = map[string]*network.EndpointSettings{"backend": {Aliases: []string{"app"}}}
			},
		},
		{
			name: "network mode names a network no longer attached: first remaining one by name",
			old:  func(o *container.InspectResponse) { delete(o.NetworkSettings.Networks, "shop_default") },
			want: func(_ *container.Config, h *container.HostConfig, n **network.NetworkingConfig, x *map[string]*network.EndpointSettings) {
				h.NetworkMode = "shop_back"
				*n = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
					"shop_back": {Aliases: []string{"api"}, IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "10.9.0.7", LinkLocalIPs: []string{}}},
				}}
				*x = map[string]*network.EndpointSettings{"shop_mon": {}}
			},
		},
		{
			name: "network mode given as a network ID",
			old:  func(o *container.InspectResponse) { o.HostConfig.NetworkMode = "net1" },
		},
		{
			name: "host network: no endpoints, hostname is the host's and kept",
			old: func(o *container.InspectResponse) {
				o.HostConfig.NetworkMode = "host"
				o.Config.Hostname = "machine"
				o.NetworkSettings.Networks = map[string]*network.EndpointSettings{"host": {NetworkID: "h"}}
			},
			want: func(c *container.Config, h *container.HostConfig, n **network.NetworkingConfig, x *map[string]*network.EndpointSettings) {
				c.Hostname = "machine"
				h.NetworkMode = "host"
				*n, *x = nil, nil
			},
		},
		{
			name: "container network: no endpoints, no hostname",
			old: func(o *container.InspectResponse) {
				o.HostConfig.NetworkMode = "container:other"
				o.Config.Hostname = "other-host"
				o.NetworkSettings.Networks = nil
			},
			want: func(_ *container.Config, h *container.HostConfig, n **network.NetworkingConfig, x *map[string]*network.EndpointSettings) {
				h.NetworkMode = "container:other"
				*n, *x = nil, nil
			},
		},
		{
			name: "named volume via --mount keeps its source, no duplicate for its destination",
			old: func(o *container.InspectResponse) {
				o.HostConfig.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "cachevol", Target: "/cache"}}
				o.Mounts[3].Name = "cachevol"
			},
			want: func(_ *container.Config, h *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				h.Mounts = []mount.Mount{
					{Type: mount.TypeVolume, Source: "cachevol", Target: "/cache"},
					{Type: mount.TypeVolume, Source: "4a5b6c7d8e9fanon", Target: "/data"},
				}
			},
		},
		{
			name: "read-only anonymous volume stays read-only",
			old: func(o *container.InspectResponse) {
				o.HostConfig.Mounts = nil
				o.Mounts = []container.MountPoint{{Type: mount.TypeVolume, Name: "ro-anon", Destination: "/ro", RW: false}}
			},
			want: func(_ *container.Config, h *container.HostConfig, _ **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				h.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "ro-anon", Target: "/ro", ReadOnly: true}}
			},
		},
		{
			name: "aliases: the full ID is dropped too, duplicates once",
			old: func(o *container.InspectResponse) {
				o.NetworkSettings.Networks["shop_default"].Aliases = []string{oldID, "app", "app", oldShort}
			},
			want: func(_ *container.Config, _ *container.HostConfig, n **network.NetworkingConfig, _ *map[string]*network.EndpointSettings) {
				(*n).EndpointsConfig["shop_default"].Aliases = []string{"app"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, oi, s := composeOld(), oldImage(), spec
			if tt.old != nil {
				tt.old(&old)
			}
			if tt.img != nil {
				tt.img(&oi)
			}
			if tt.spec != nil {
				tt.spec(&s)
			}
			before := deepCopy(t, old)

			cfg, hc, netCfg, extra := CloneConfig(old, oi, newImage(), s)

			wc, wh, wn, wx := expectedConfig()
			if tt.want != nil {
				tt.want(wc, wh, &wn, &wx)
			}
			opts := cmp.Options{cmpopts.EquateEmpty()}
			if d := cmp.Diff(wc, cfg, opts); d != "" {
				t.Errorf("Config (-want +got):\n%s", d)
			}
			if d := cmp.Diff(wh, hc, opts); d != "" {
				t.Errorf("HostConfig (-want +got):\n%s", d)
			}
			if d := cmp.Diff(wn, netCfg, opts); d != "" {
				t.Errorf("NetworkingConfig (-want +got):\n%s", d)
			}
			if d := cmp.Diff(wx, extra, opts); d != "" {
				t.Errorf("extra networks (-want +got):\n%s", d)
			}
			if d := cmp.Diff(before, old); d != "" {
				t.Errorf("CloneConfig modified its input (-before +after):\n%s", d)
			}
		})
	}
}

// An entrypoint reset must reach the engine as [] (reset), not null (inherit).
func TestCloneConfigEntrypointResetJSON(t *testing.T) {
	old := composeOld()
	old.Config.Entrypoint = strslice.StrSlice{}
	oi := oldImage()
	oi.Config.Entrypoint = []string{"/entry.sh"}
	cfg, _, _, _ := CloneConfig(old, oi, newImage(), Spec{Image: "x"})
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if got := string(raw["Entrypoint"]); got != "[]" {
		t.Errorf("Entrypoint in the create request = %s, want []", got)
	}
}

// Nil parts (a minimal inspect result) must not panic.
func TestCloneConfigMinimal(t *testing.T) {
	cfg, hc, netCfg, extra := CloneConfig(container.InspectResponse{}, image.InspectResponse{}, image.InspectResponse{ID: "sha256:x"}, Spec{})
	if cfg.Image != "sha256:x" || hc == nil || netCfg != nil || extra != nil {
		t.Errorf("got %+v %+v %+v %+v", cfg, hc, netCfg, extra)
	}
}

func TestReplacementJSON(t *testing.T) {
	r := Replacement{Name: "app", OldID: oldID, BackupName: BackupName("/app", oldID), NewID: "n", OldRunning: true}
	if r.BackupName != "app.nonstop-old-"+oldShort {
		t.Errorf("BackupName = %q", r.BackupName)
	}
	if !IsBackupName("/" + r.BackupName) {
		t.Errorf("IsBackupName(%q) = false", r.BackupName)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Replacement
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != r {
		t.Errorf("round trip: %+v != %+v", back, r)
	}
}

func deepCopy(t *testing.T, c container.InspectResponse) container.InspectResponse {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out container.InspectResponse
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
