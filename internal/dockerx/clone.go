// This file holds the clone of a container's configuration for its
// replacement: networks and aliases, ports, mounts, labels, restart policy and
// command carried over, with the plan's image and env on top.
package dockerx

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/go-connections/nat"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// ReplacesLabel is put on every container that Replace creates, with the ID of
// the container it replaced. Undo uses it to recognise the new container by
// name when the journal has no NewID (a crash between create and journal
// write), so it never force-removes a container it did not create.
const ReplacesLabel = "nonstop.replaces"

// backupInfix separates the original name from the old container's short ID in
// a backup name. Container names may contain dots, and no tool generates names
// with this infix, so a backup is recognisable by name alone (FindContainer
// skips backups when it resolves compose services).
const backupInfix = ".nonstop-old-"

// Spec is what a deploy changes on a container; everything else is cloned from
// the container being replaced.
type Spec struct {
	// Image is the image reference for the new container. Empty keeps the
	// old container's image.
	Image string
	// Env is merged over the old container's user-set environment (entries
	// that only repeated the old image's ENV are dropped, so the new image's
	// ENV applies).
	Env map[string]string
	// Checkpoint, when set, is called by Replace with the Replacement once
	// it is known and before the first change (the rename); an error aborts
	// Replace with nothing changed. Apply journals record it, so that a
	// Replace cut short by the death of its process can be undone by
	// another one (Recover).
	Checkpoint func(Replacement) error
	// StartFirst starts the new container next to the old one and leaves
	// the old one running (renamed, with its network aliases, so the
	// service name resolves to both): the only zero-downtime way to
	// replace a single replica. The switch step stops the old one later, once
	// nginx sends its requests to the new one (StopGracefully).
	StartFirst bool
	// Labels are set on the new container over the cloned ones: what the
	// deploy did (DeployLabels), visible in `docker inspect`.
	Labels map[string]string
}

// BackupName is the name Replace gives the old container while the plan runs:
// the original name plus the old container's short ID, so it is unique per
// old container and a leftover from an interrupted run is recognisable.
func BackupName(name, oldID string) string {
	return strings.TrimPrefix(name, "/") + backupInfix + shortID(oldID)
}

// IsBackupName reports whether a container name (with or without the leading
// slash) is one that Replace gives to the containers it keeps for rollback.
func IsBackupName(name string) bool {
	return strings.Contains(name, backupInfix)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// CloneConfig computes the create-time configuration of a container that
// replaces old with the image and env of s, keeping what `docker compose up`
// would keep and letting the new image's defaults apply where the old
// container only had the old image's defaults:
//
//   - networks with their aliases, minus the old short ID that Docker 20.10
//     adds as an alias by itself, fixed IPs only where IPAMConfig was set. The
//     primary network goes in HostConfig.NetworkMode and the returned
//     NetworkingConfig; the others come back as extraNetworks, to be attached
//     with NetworkConnect before start (API 1.41 takes one network at create);
//   - port bindings, and exposed ports that were not the old image's own;
//   - mounts: binds, named volumes, tmpfs, and the old container's anonymous
//     volumes mounted by name so their data carries over (Config.Volumes is
//     not copied: every volume is an explicit mount, and the new image's
//     VOLUMEs get fresh anonymous volumes as usual);
//   - labels, including compose's, minus those the old image set; plus
//     ReplacesLabel;
//   - env: the old container's env minus entries identical to the old image's
//     ENV, with s.Env merged over it (the new image brings its own ENV);
//   - user, working dir, entrypoint/cmd, healthcheck and stop signal only when
//     they differ from the old image's, so a new image's defaults apply;
//   - hostname only when it was not the default (the short ID);
//   - the rest of HostConfig (restart policy, log config, extra hosts,
//     capabilities, privileged, resources...) copied as it is.
//
// It is a pure function: nothing is read from the engine, nothing in old is
// modified.
func CloneConfig(old container.InspectResponse, oldImage, newImage image.InspectResponse, s Spec) (*container.Config, *container.HostConfig, *network.NetworkingConfig, map[string]*network.EndpointSettings) {
	oc := old.Config
	if oc == nil {
		oc = &container.Config{}
	}
	ic := oldImage.Config
	if ic == nil {
		ic = &dockerspec.DockerOCIImageConfig{}
	}
	var oldID string
	var oldHC *container.HostConfig
	if old.ContainerJSONBase != nil {
		oldID = old.ID
		oldHC = old.HostConfig
	}
	short := shortID(oldID)

	hc := cloneHostConfig(oldHC)
	hc.ContainerIDFile = ""
	hc.Links = normalizeLinks(hc.Links)
	hc.Mounts = carryVolumes(hc, old.Mounts)

	img := s.Image
	if img == "" {
		img = oc.Image
		if img == "" {
			img = newImage.ID
		}
	}

	cfg := &container.Config{
		Domainname:      oc.Domainname,
		AttachStdin:     oc.AttachStdin,
		AttachStdout:    oc.AttachStdout,
		AttachStderr:    oc.AttachStderr,
		Tty:             oc.Tty,
		OpenStdin:       oc.OpenStdin,
		StdinOnce:       oc.StdinOnce,
		Image:           img,
		NetworkDisabled: oc.NetworkDisabled,
		MacAddress:      oc.MacAddress, //nolint:staticcheck // the way to keep a user-set MAC on API < 1.44
		StopTimeout:     copyIntPtr(oc.StopTimeout),
		Env:             mergeEnv(oc.Env, ic.Env, s.Env),
		Labels:          cloneLabels(oc.Labels, ic.Labels, oldID, s.Labels),
		ExposedPorts:    exposedPorts(oc.ExposedPorts, ic.ExposedPorts, hc.PortBindings),
	}
	if oc.Hostname != "" && oc.Hostname != short && !hc.NetworkMode.IsContainer() {
		cfg.Hostname = oc.Hostname
	}
	if oc.User != ic.User {
		cfg.User = oc.User
	}
	if oc.WorkingDir != ic.WorkingDir {
		cfg.WorkingDir = oc.WorkingDir
	}
	if oc.StopSignal != ic.StopSignal {
		cfg.StopSignal = oc.StopSignal
	}
	if !sameStrings(oc.Entrypoint, ic.Entrypoint) {
		// A user-set entrypoint also stops Docker from inheriting the image's
		// CMD, so the recorded Cmd is the user's: keep both. An entrypoint reset
		// to nothing must stay an empty list (JSON []), not nil (inherit).
		cfg.Entrypoint = strslice.StrSlice(slices.Clone(oc.Entrypoint))
		if cfg.Entrypoint == nil {
			cfg.Entrypoint = strslice.StrSlice{}
		}
		cfg.Cmd = strslice.StrSlice(slices.Clone(oc.Cmd))
	} else if !sameStrings(oc.Cmd, ic.Cmd) {
		cfg.Cmd = strslice.StrSlice(slices.Clone(oc.Cmd))
	}
	if oc.Healthcheck != nil && (ic.Healthcheck == nil || !reflect.DeepEqual(*oc.Healthcheck, *ic.Healthcheck)) {
		h := *oc.Healthcheck
		h.Test = slices.Clone(h.Test)
		cfg.Healthcheck = &h
	}

	var nets map[string]*network.EndpointSettings
	if old.NetworkSettings != nil {
		nets = old.NetworkSettings.Networks
	}
	netCfg, extra := cloneNetworks(hc, nets, short, oldID)
	if hc.NetworkMode.IsContainer() {
		cfg.Hostname, cfg.Domainname = "", ""
	}
	return cfg, hc, netCfg, extra
}

// cloneHostConfig deep-copies a HostConfig through JSON, the form the engine
// returned it in, so no slice or map is shared with the old container's.
func cloneHostConfig(hc *container.HostConfig) *container.HostConfig {
	out := &container.HostConfig{}
	if hc == nil {
		return out
	}
	b, err := json.Marshal(hc)
	if err != nil {
		// HostConfig is plain data decoded from JSON; this cannot happen.
		panic("dockerx: cannot copy HostConfig: " + err.Error())
	}
	if err := json.Unmarshal(b, out); err != nil {
		panic("dockerx: cannot copy HostConfig: " + err.Error())
	}
	return out
}

// normalizeLinks turns the "/other:/self/alias" form that inspect returns into
// the "other:alias" form that create documents. (The engine accepts both, but
// the inspected form names the old container.)
func normalizeLinks(links []string) []string {
	if links == nil {
		return nil
	}
	out := make([]string, 0, len(links))
	for _, l := range links {
		name, alias, ok := strings.Cut(l, ":")
		if ok && strings.HasPrefix(name, "/") {
			name = name[1:]
			if i := strings.LastIndex(alias, "/"); i >= 0 {
				alias = alias[i+1:]
			}
			l = name + ":" + alias
		}
		out = append(out, l)
	}
	return out
}

// carryVolumes returns hc.Mounts completed so the new container sees the same
// volumes: anonymous volumes (from the image's VOLUME, `-v /path` or a
// `--mount type=volume` without source) would otherwise be created afresh and
// the data would stay behind with the old container. Each is mounted by its
// generated name at its old destination.
func carryVolumes(hc *container.HostConfig, mounted []container.MountPoint) []mount.Mount {
	volByDest := map[string]container.MountPoint{}
	for _, m := range mounted {
		if m.Type == mount.TypeVolume && m.Name != "" {
			volByDest[m.Destination] = m
		}
	}
	covered := map[string]bool{}
	for _, b := range hc.Binds {
		if parts := strings.Split(b, ":"); len(parts) >= 2 {
			covered[parts[1]] = true
		}
	}
	for dest := range hc.Tmpfs {
		covered[dest] = true
	}
	out := slices.Clone(hc.Mounts)
	for i, m := range out {
		covered[m.Target] = true
		if m.Type == mount.TypeVolume && m.Source == "" {
			if v, ok := volByDest[m.Target]; ok {
				out[i].Source = v.Name
			}
		}
	}
	dests := slices.Sorted(maps.Keys(volByDest))
	for _, dest := range dests {
		if covered[dest] {
			continue
		}
		v := volByDest[dest]
		out = append(out, mount.Mount{
			Type:     mount.TypeVolume,
			Source:   v.Name,
			Target:   dest,
			ReadOnly: !v.RW,
		})
	}
	return out
}

// mergeEnv drops the entries of the old container's env that are identical to
// the old image's ENV (they were not the user's; the new image brings its own)
// and sets the keys of over, in place where the key exists and appended in key
// order otherwise.
func mergeEnv(old, oldImage []string, over map[string]string) []string {
	fromImage := map[string]bool{}
	for _, e := range oldImage {
		fromImage[e] = true
	}
	var env []string
	done := map[string]bool{}
	for _, e := range old {
		if fromImage[e] {
			continue
		}
		k, _, _ := strings.Cut(e, "=")
		if v, ok := over[k]; ok {
			e = k + "=" + v
			done[k] = true
		}
		env = append(env, e)
	}
	for _, k := range slices.Sorted(maps.Keys(over)) {
		if !done[k] {
			env = append(env, k+"="+over[k])
		}
	}
	return env
}

// cloneLabels keeps the old container's labels (compose's included, so
// `docker compose ps` still lists the service) minus those the old image set,
// and records which container this one replaces, with the deploy's own
// labels over them.
func cloneLabels(old, oldImage map[string]string, oldID string, over map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range old {
		if iv, ok := oldImage[k]; ok && iv == v {
			continue
		}
		out[k] = v
	}
	if oldID != "" {
		out[ReplacesLabel] = oldID
	}
	maps.Copy(out, over)
	if len(out) == 0 {
		return nil
	}
	return out
}

// exposedPorts keeps the ports the user exposed (not those the old image
// declared; the new image declares its own) and every port that is published,
// since a binding needs its port exposed.
func exposedPorts(old nat.PortSet, oldImage map[string]struct{}, bindings nat.PortMap) nat.PortSet {
	out := nat.PortSet{}
	for p := range old {
		if _, ok := oldImage[string(p)]; ok {
			continue
		}
		out[p] = struct{}{}
	}
	for p := range bindings {
		out[p] = struct{}{}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// cloneNetworks decides the primary network (the one create attaches), fixes
// hc.NetworkMode to name it, and returns the endpoint settings to create with
// and those of the other networks to connect before start.
func cloneNetworks(hc *container.HostConfig, nets map[string]*network.EndpointSettings, short, oldID string) (*network.NetworkingConfig, map[string]*network.EndpointSettings) {
	mode := hc.NetworkMode
	if mode.IsContainer() || mode.IsHost() || mode.IsNone() || len(nets) == 0 {
		return nil, nil
	}
	primary := string(mode)
	if mode.IsDefault() || mode == "" {
		primary = network.NetworkBridge
	}
	if _, ok := nets[primary]; !ok {
		found := ""
		// NetworkMode may hold a network ID rather than its name.
		for name, ep := range nets {
			if ep != nil && ep.NetworkID != "" && (ep.NetworkID == primary || strings.HasPrefix(ep.NetworkID, primary)) {
				found = name
			}
		}
		if found == "" {
			// The container was disconnected from the network it was
			// created on; the first remaining one (by name) takes its place.
			found = slices.Sorted(maps.Keys(nets))[0]
		}
		primary = found
		hc.NetworkMode = container.NetworkMode(found)
	}
	var netCfg *network.NetworkingConfig
	if ep := cleanEndpoint(nets[primary], short, oldID); primary != network.NetworkBridge || !emptyEndpoint(ep) {
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{primary: ep}}
	}
	var extra map[string]*network.EndpointSettings
	for name, ep := range nets {
		if name == primary || name == network.NetworkHost || name == network.NetworkNone {
			continue
		}
		if extra == nil {
			extra = map[string]*network.EndpointSettings{}
		}
		extra[name] = cleanEndpoint(ep, short, oldID)
	}
	return netCfg, extra
}

// cleanEndpoint keeps the user's part of an endpoint (aliases without the old
// container's ID, links, driver options, a fixed IP only if one was asked for)
// and drops the operational data (IP, gateway, endpoint ID, the generated MAC
// that API 1.41 would refuse per endpoint anyway).
func cleanEndpoint(ep *network.EndpointSettings, short, oldID string) *network.EndpointSettings {
	out := &network.EndpointSettings{}
	if ep == nil {
		return out
	}
	for _, a := range ep.Aliases {
		if a == "" || a == short || (oldID != "" && a == oldID) || slices.Contains(out.Aliases, a) {
			continue
		}
		out.Aliases = append(out.Aliases, a)
	}
	out.Links = slices.Clone(ep.Links)
	if len(ep.DriverOpts) > 0 {
		out.DriverOpts = maps.Clone(ep.DriverOpts)
	}
	if c := ep.IPAMConfig; c != nil && (c.IPv4Address != "" || c.IPv6Address != "" || len(c.LinkLocalIPs) > 0) {
		out.IPAMConfig = &network.EndpointIPAMConfig{
			IPv4Address:  c.IPv4Address,
			IPv6Address:  c.IPv6Address,
			LinkLocalIPs: slices.Clone(c.LinkLocalIPs),
		}
	}
	return out
}

func emptyEndpoint(ep *network.EndpointSettings) bool {
	return len(ep.Aliases) == 0 && len(ep.Links) == 0 && len(ep.DriverOpts) == 0 && ep.IPAMConfig == nil
}

// sameStrings compares argument lists, nil and empty being the same.
func sameStrings(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return slices.Equal(a, b)
}

func copyIntPtr(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
