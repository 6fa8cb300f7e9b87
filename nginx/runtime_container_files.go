// This file holds how the container Runtime shows which files its nginx
// loads and what nginx reads in them: `nginx -T` through the exec API,
// the container's mounts from inspect, and a file's bytes as nginx sees
// them (through /proc/PID/root where the engine runs on this machine,
// otherwise through the engine's archive API).

package nginx

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// maxConfigSize bounds what is read of one config file through the engine.
const maxConfigSize = 16 << 20

// Dump implements Runtime: `nginx -T -q` in the container (stdout is the
// dump, stderr nginx's complaints), each file mapped to this machine
// through the container's mounts.
func (r *containerRuntime) Dump(ctx context.Context) (*Loaded, error) {
	ins, err := r.cli.ContainerInspect(ctx, r.container)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	var stdout, stderr bytes.Buffer
	code, err := r.execTo(ctx, append([]string{r.binary, "-T", "-q"}, startFlags(r.binary, ins.Path, ins.Args)...), &stdout, &stderr)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, &TestError{Output: stderr.String() + stdout.String()}
	}
	l := parseDump(stdout.Bytes())
	l.mapMounts(mountsOf(ins))
	r.mu.Lock()
	l.viaEngine = len(r.enginePaths) > 0
	for p, name := range r.enginePaths { // files reached by name (ContainerFile)
		for i := range l.Files {
			if l.Files[i].Name == name {
				l.Files[i].Host = p
			}
		}
	}
	r.mu.Unlock()
	return l, nil
}

// startFlags returns the flags of the container's command line (path and
// args, as inspect shows them) that decide what its nginx master loads:
// -p (prefix), -c (main config), -g (directives) and -e (error log), with
// their values, found after the nginx binary (so an entrypoint script that
// execs "$@" is looked through). `nginx -t` must test the config the
// master loads, not the compiled-in default.
func startFlags(binary, path string, args []string) []string {
	argv := append([]string{path}, args...)
	i := slices.IndexFunc(argv, func(a string) bool {
		b := filepath.Base(a)
		return b == "nginx" || b == filepath.Base(binary)
	})
	if i < 0 {
		return nil
	}
	var out []string
	for j := i + 1; j < len(argv); j++ {
		a := argv[j]
		if len(a) < 2 || a[0] != '-' || !strings.ContainsRune("pcge", rune(a[1])) {
			continue
		}
		if len(a) > 2 { // nginx takes "-cFILE" too
			out = append(out, a)
		} else if j+1 < len(argv) {
			out = append(out, a, argv[j+1])
			j++
		}
	}
	return out
}

// mounts lists the container's mounts.
func (r *containerRuntime) mounts(ctx context.Context) ([]Mount, error) {
	ins, err := r.cli.ContainerInspect(ctx, r.container)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	return mountsOf(ins), nil
}

func mountsOf(ins container.InspectResponse) []Mount {
	ms := make([]Mount, 0, len(ins.Mounts))
	for _, m := range ins.Mounts {
		ms = append(ms, Mount{Type: string(m.Type), Source: m.Source, Destination: m.Destination})
	}
	return ms
}

// Seen implements Runtime: path is mapped into the container through its
// mounts, and the file read as nginx's processes see it. Where the engine
// runs on this machine that is microseconds (the mounts found with the
// master's PID, the file through /proc/PID/root, which is the container's
// view); elsewhere an inspect and a read through the engine.
func (r *containerRuntime) Seen(ctx context.Context, path string) (string, []byte, error) {
	byName, viaEngine := r.enginePath(path)
	if procs, ok := r.procProcesses(ctx); ok {
		r.mu.Lock()
		pid, mounts := r.hostPID, r.pidMounts
		r.mu.Unlock()
		name := containerPathOf(path, mounts)
		if viaEngine {
			name = byName
		}
		if pid == procs[0].PID && name != "" {
			if b, err := os.ReadFile(filepath.Join(string(r.proc), strconv.Itoa(pid), "root", name)); err == nil {
				return name, b, nil
			}
		}
	}
	if viaEngine {
		b, err := r.copyOut(ctx, byName)
		return byName, b, err
	}
	mounts, err := r.mounts(ctx)
	if err != nil {
		return "", nil, err
	}
	name := containerPathOf(path, mounts)
	if name == "" {
		var list bytes.Buffer
		for _, m := range mounts {
			fmt.Fprintf(&list, "; %s", m)
		}
		if list.Len() == 0 {
			list.WriteString("; it has no mounts")
		}
		return "", nil, &notLoaded{fmt.Sprintf("no mount of %s brings %s into it%s", r, path, list.String())}
	}
	b, err := r.copyOut(ctx, name)
	return name, b, err
}

// copyOut reads one file of the container through the engine's archive
// API (the `docker cp` of it).
func (r *containerRuntime) copyOut(ctx context.Context, name string) ([]byte, error) {
	b, _, err := r.copyOutHeader(ctx, name)
	return b, err
}
