// Package targetstate keeps a plan's lock, journals and history in the
// nginx container the plan changes (`plan { state = nginx.NAME }`),
// reached through the engine that runs it, so every runner that applies
// the plan, from any checkout, sees the same lock and the same unfinished
// apply. It implements executor.SharedState.
//
// The folder DIR in the container holds `lock` (the holder: the PID of
// the shell that holds the lock, in the container, and the LockInfo
// JSON), `applies/<applyID>.jsonl` (journals) and `history.jsonl`. The
// folders are created through the archive API, so the image needs no
// mkdir; the lock and the writes go through one long-lived exec of `sh`
// per held lock (see session.go), so the image needs sh, cat and rm, as
// the official nginx images have.
//
// This file holds the Store: naming the place, reading the lock and its
// holder's liveness, Unlock, Check, and the folders.
package targetstate

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/executor"
)

// Store is a plan's shared state in a folder of an nginx container.
type Store struct {
	cli       client.APIClient
	container string
	dir       string
}

var _ executor.SharedState = (*Store)(nil)

// New names the state in folder dir (absolute, inside the container, e.g.
// /var/lib/nonstop/web) of container (name or ID), reached through cli.
// It does no I/O: Check says whether the place can hold the state.
func New(cli client.APIClient, container, dir string) *Store {
	return &Store{cli: cli, container: container, dir: path.Clean(dir)}
}

// String names the place for messages.
func (s *Store) String() string {
	return fmt.Sprintf("nginx container %q (%s)", s.container, s.dir)
}

// ErrNeedsTools is wrapped when the container cannot run the shell, cat
// or rm that the shared state needs.
var ErrNeedsTools = errors.New("the nginx image needs a shell, cat and rm for a plan's state kept in the container (state = nginx.NAME): use an image with them (the official nginx images have them) or keep local state")

// idRE is what an apply ID may hold: it becomes a file name and a shell
// argument on the target.
var idRE = regexp.MustCompile(`^[0-9A-Za-z.:_-]+$`)

// validID refuses an apply ID that cannot name a journal.
func validID(id string) error {
	if !idRE.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("apply ID %q cannot name a shared journal: use letters, digits and . : _ -", id)
	}
	return nil
}

// validName accepts only the shared files: "applies/<id>.jsonl" and
// "history.jsonl".
func validName(name string) error {
	if name == "history.jsonl" {
		return nil
	}
	if id, ok := strings.CutPrefix(name, "applies/"); ok {
		if id, ok = strings.CutSuffix(id, ".jsonl"); ok && validID(id) == nil {
			return nil
		}
	}
	return fmt.Errorf("%q is not a shared state file: only applies/<apply ID>.jsonl and history.jsonl are written", name)
}

// holder is the lock as read in the container.
type holder struct {
	found bool
	// raw is the lock's line: "PID INFO-JSON".
	raw   string
	info  executor.LockInfo
	alive bool
}

// partialTries is how often a lock still being written (no newline yet)
// is read again: the creating shell writes it right after creating it,
// within microseconds, so seeing it twice in a row takes a dead writer.
const partialTries = 5

// readHolder reads the lock and whether its holder runs: its PID is a
// running process of the container whose command line names the lock's
// apply ID (`nonstop-state-<ID>`), so a PID reused by another process is
// not taken for the holder.
func (s *Store) readHolder(ctx context.Context, file string) (holder, error) {
	for try := 1; ; try++ {
		h, partial, err := s.readHolderOnce(ctx, file)
		if err != nil || !partial {
			return h, err
		}
		if try == partialTries {
			return h, fmt.Errorf("%s: the lock file %s holds %q without its end: the runner that took it died while writing it. Remove it in the container (docker exec %s rm %s) once no plan runs", s, path.Join(s.dir, file), h.raw, s.container, path.Join(s.dir, file))
		}
		select {
		case <-ctx.Done():
			return h, context.Cause(ctx)
		case <-time.After(40 * time.Millisecond):
		}
	}
}

// readHolderOnce runs holderScript once.
func (s *Store) readHolderOnce(ctx context.Context, file string) (h holder, partial bool, err error) {
	out, errOut, code, err := s.exec(ctx, []string{"sh", "-c", holderScript, "nonstop-state", s.dir, file}, nil)
	if err != nil {
		return h, false, err
	}
	state, rest, _ := bytes.Cut(out, []byte("\n"))
	switch string(state) {
	case "none":
		return h, false, nil
	case "whole", "partial":
	default:
		return h, false, s.shellError("reading the lock", out, errOut, code)
	}
	raw, rest, _ := bytes.Cut(rest, []byte("\n"))
	h.found, h.raw = true, string(raw)
	if string(state) == "partial" {
		return h, true, nil
	}
	pidText, js, _ := strings.Cut(h.raw, " ")
	pid, perr := strconv.Atoi(pidText)
	if perr != nil || pid <= 0 || json.Unmarshal([]byte(js), &h.info) != nil || h.info.ID == "" {
		return h, false, fmt.Errorf("%s: the lock file %s holds %q, which names no holder: remove it in the container (docker exec %s rm %s) once no plan runs", s, path.Join(s.dir, file), h.raw, s.container, path.Join(s.dir, file))
	}
	proc, cmdline, _ := bytes.Cut(rest, []byte("\n"))
	switch string(proc) {
	case "proc":
	case "nocat":
		return h, false, fmt.Errorf("%s: reading whether the lock's holder runs: no cat in the container: %w", s, ErrNeedsTools)
	default:
		return h, false, s.shellError("reading the lock", out, errOut, code)
	}
	h.alive = bytes.Contains(cmdline, []byte("\x00"+sessionName(h.info.ID)+"\x00"))
	return h, false, nil
}

// planLock is the plan's lock, in the state folder.
const planLock = "lock"

// sessionName is $0 of the session shell holding the lock of apply id.
func sessionName(id string) string { return "nonstop-state-" + id }

// Holder reads the lock: whether there is one, its holder, and whether
// that holder's session still runs in the container.
func (s *Store) Holder(ctx context.Context) (info executor.LockInfo, alive, found bool, err error) {
	h, err := s.readHolder(ctx, planLock)
	if err != nil {
		return info, false, false, err
	}
	return h.info, h.alive, h.found, nil
}

// Unlock removes a lock whose holder is gone, as executor.Unlock does for
// a local folder: it refuses a wrong ID and a live holder.
func (s *Store) Unlock(ctx context.Context, id string) error {
	h, err := s.readHolder(ctx, planLock)
	if err != nil {
		return err
	}
	if !h.found {
		return fmt.Errorf("there is no lock in %s", s)
	}
	if h.info.ID != id {
		return fmt.Errorf("the lock's ID is %s, not %s: nothing was removed", h.info.ID, id)
	}
	if h.alive {
		return fmt.Errorf("%s is still running: stop it instead of unlocking", h.info)
	}
	return s.remove(ctx, h.raw)
}

// remove removes the lock if it still holds exactly raw, through a
// one-shot run of the session script.
func (s *Store) remove(ctx context.Context, raw string) error {
	reply, diag, err := s.oneShot(ctx, "remove\n"+raw+"\n")
	if err != nil {
		return err
	}
	switch reply {
	case "ok", "gone":
		return nil
	case "other":
		return fmt.Errorf("the lock in %s changed while it was being removed (another runner took it): nothing was removed", s)
	}
	return fmt.Errorf("removing the lock in %s: %s", s, diag)
}

// Check says whether the state can live here: the container runs, its
// image has sh, cat and rm, and the folder can be created and written.
// Errors say the fix.
func (s *Store) Check(ctx context.Context) error {
	ins, err := s.cli.ContainerInspect(ctx, s.container)
	if err != nil {
		return fmt.Errorf("%s: %w. Fix: name a running nginx container, or keep local state", s, err)
	}
	if ins.State == nil || !ins.State.Running {
		status := "not running"
		if ins.State != nil {
			status = ins.State.Status
		}
		return fmt.Errorf("%s: the container is %s: start it, or keep local state", s, status)
	}
	if err := s.ensureDirs(ctx); err != nil {
		return err
	}
	reply, diag, err := s.oneShot(ctx, "check\n")
	if err != nil {
		return err
	}
	switch {
	case reply == "ok":
		return nil
	case strings.HasPrefix(reply, "missing "):
		return fmt.Errorf("%s: no %s in the container: %w", s, strings.TrimPrefix(reply, "missing "), ErrNeedsTools)
	}
	return fmt.Errorf("%s: cannot create a file in %s/applies (%s). Fix: mount a writable volume at %s (it also keeps the state when the container is replaced)", s, s.dir, diag, s.dir)
}

// ensureDirs creates dir and dir/applies (mode 0700) when missing,
// through the archive API: a tar of directory entries copied into the
// deepest folder that exists, so the image needs no mkdir.
func (s *Store) ensureDirs(ctx context.Context) error {
	return s.ensureDir(ctx, path.Join(s.dir, "applies"))
}

// ensureDir creates the folder p and its missing parents (mode 0700)
// through the archive API.
func (s *Store) ensureDir(ctx context.Context, p string) error {
	var missing []string
	for {
		st, err := s.cli.ContainerStatPath(ctx, s.container, p)
		if err == nil {
			if !st.Mode.IsDir() {
				return fmt.Errorf("%s: %s is not a folder: remove it or choose another state folder", s, p)
			}
			break
		}
		if !cerrdefs.IsNotFound(err) || p == "/" {
			return fmt.Errorf("%s: looking for %s: %w. Fix: name a running nginx container", s, p, err)
		}
		missing = append([]string{path.Base(p)}, missing...)
		p = path.Dir(p)
	}
	if len(missing) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for i := range missing {
		h := &tar.Header{Name: path.Join(missing[:i+1]...) + "/", Typeflag: tar.TypeDir, Mode: 0o700, ModTime: now}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := s.cli.CopyToContainer(ctx, s.container, p, &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("%s: creating %s through the engine: %w. Fix: mount a writable volume at %s", s, path.Join(p, path.Join(missing...)), err, path.Dir(s.dir))
	}
	return nil
}
