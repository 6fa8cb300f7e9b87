// This file holds the tests of the shared state on a real engine: the
// round trip through Pull, two runners on one container, a killed holder,
// a lost session, byte-exact records, and an image without a shell.
package targetstate

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/nonstop-deploy/nonstop/executor"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
	"github.com/nonstop-deploy/nonstop/internal/testkit/testimage"
)

const stateDir = "/var/lib/nonstop/web"

// TestRoundTrip takes the lock in a container with no state folder,
// appends to a journal and the history, releases, and pulls: the local
// folder holds exactly what was appended, a journal the target has not is
// removed, and the lock is not copied.
func TestRoundTrip(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := shellNginx(t, ctx, cli)
	s := New(cli, name, stateDir)
	if got, want := s.String(), `nginx container "`+name+`" (/var/lib/nonstop/web)`; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if _, _, found, err := s.Holder(ctx); err != nil || found {
		t.Fatalf("Holder before any lock: found=%v, %v", found, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/var/lib/nonstop", stateDir, stateDir + "/applies"} {
		st, err := cli.ContainerStatPath(ctx, name, p)
		if err != nil || !st.Mode.IsDir() || st.Mode.Perm() != 0o700 {
			t.Fatalf("%s: %v %v, want a folder 0700", p, st.Mode, err)
		}
	}
	// The session outlives the context Lock was given.
	lctx, lcancel := context.WithCancel(ctx)
	l, prev, err := s.Lock(lctx, lockInfo("a1"), 0, false)
	lcancel()
	if err != nil || prev != nil {
		t.Fatalf("Lock: %v, prev %v", err, prev)
	}
	if !l.Alive() {
		t.Fatal("Alive() false on a held lock")
	}
	info, alive, found, err := s.Holder(ctx)
	if err != nil || !found || !alive || info != lockInfo("a1") {
		t.Fatalf("Holder = %+v alive=%v found=%v %v, want a1 alive", info, alive, found, err)
	}
	journal := []string{`{"kind":"begin","apply":"a1"}`, `{"kind":"intent","step":"x"}`, `{"kind":"end","result":"ok"}`}
	for _, line := range journal {
		if err := l.Append(ctx, "applies/a1.jsonl", []byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Append(ctx, "history.jsonl", []byte(`{"apply":"a1"}`)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"lock", "applies/../lock", "applies/a b.jsonl", "/etc/passwd", "applies/x.json"} {
		if err := l.Append(ctx, bad, []byte("x")); err == nil {
			t.Errorf("Append to %q accepted", bad)
		}
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if l.Alive() {
		t.Fatal("Alive() true after Release")
	}
	if err := l.Append(ctx, "history.jsonl", []byte("late")); err == nil {
		t.Fatal("Append after Release accepted")
	}
	if _, _, found, err := s.Holder(ctx); err != nil || found {
		t.Fatalf("Holder after Release: found=%v, %v", found, err)
	}

	local := t.TempDir()
	if err := os.MkdirAll(filepath.Join(local, "applies"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "applies", "old.jsonl"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "history.jsonl"), []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Pull(ctx, local); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(local, "applies", "a1.jsonl"), strings.Join(journal, "\n")+"\n")
	assertFile(t, filepath.Join(local, "history.jsonl"), `{"apply":"a1"}`+"\n")
	assertEntries(t, local, "applies", "history.jsonl")
	assertEntries(t, filepath.Join(local, "applies"), "a1.jsonl")

	// A folder the container does not have is an empty state.
	if err := New(cli, name, "/var/lib/nonstop/other").Pull(ctx, local); err != nil {
		t.Fatal(err)
	}
	assertEntries(t, local, "applies")
	assertEntries(t, filepath.Join(local, "applies"))
	// A container that does not exist is an error, not an empty state.
	if err := New(cli, name+"-gone", stateDir).Pull(ctx, local); err == nil {
		t.Fatal("Pull from a missing container succeeded")
	}
}

// TestTornFiles: a file being written (no newline at its end yet) is
// pulled up to its last whole line; a lock without its end, or naming no
// holder, is an error that says how to remove it, not a free lock.
func TestTornFiles(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := shellNginx(t, ctx, cli)
	s := New(cli, name, stateDir)
	if err := s.ensureDirs(ctx); err != nil {
		t.Fatal(err)
	}
	put := func(file, body string) { putFiles(t, ctx, cli, name, map[string]string{file: body}) }
	put("history.jsonl", "{\"a\":1}\n{\"a\":2}\n{\"a\"")
	local := t.TempDir()
	if err := s.Pull(ctx, local); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(local, "history.jsonl"), "{\"a\":1}\n{\"a\":2}\n")

	for body, want := range map[string]string{
		"12 {\"id\":\"x1\"": "without its end",
		"garbage\n":         "names no holder",
	} {
		put("lock", body)
		if _, _, _, err := s.Holder(ctx); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "rm "+stateDir+"/lock") {
			t.Errorf("Holder of a lock %q: %v, want %q and how to remove it", body, err, want)
		}
		if _, _, err := s.Lock(ctx, lockInfo("t1"), 0, true); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Lock over a lock %q: %v, want %q", body, err, want)
		}
	}
}

// TestTwoRunners: a second Store on the same container, as another
// runner with its own checkout, sees the lock held by a live holder,
// is refused (after waiting, when asked to), and gets the lock once the
// first releases it while it waits.
func TestTwoRunners(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := shellNginx(t, ctx, cli)
	r1, r2 := New(cli, name, stateDir), New(cli, name, stateDir)
	l1, _, err := r1.Lock(ctx, lockInfo("r1"), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l1.Release(ctx) }()

	for _, takeOver := range []bool{false, true} {
		_, _, err = r2.Lock(ctx, lockInfo("r2"), 0, takeOver)
		var le *executor.LockError
		if !errors.As(err, &le) || le.Stale || le.Holder.ID != "r1" || !errors.Is(err, executor.ErrLocked) {
			t.Fatalf("second runner (takeOver %v): %v, want a LockError naming r1, not stale", takeOver, err)
		}
	}
	_, _, err = r2.Lock(ctx, lockInfo("r2"), 300*time.Millisecond, false)
	var le *executor.LockError
	if !errors.As(err, &le) || le.Waited != 300*time.Millisecond || !strings.Contains(err.Error(), "after waiting 300ms") {
		t.Fatalf("waiting second runner: %v, want a LockError after waiting 300ms", err)
	}
	if err := r2.Unlock(ctx, "r9"); err == nil || err.Error() != "the lock's ID is r1, not r9: nothing was removed" {
		t.Fatalf("Unlock with a wrong ID: %v", err)
	}
	if err := r2.Unlock(ctx, "r1"); err == nil || !strings.Contains(err.Error(), "is still running: stop it instead of unlocking") {
		t.Fatalf("Unlock of a live holder: %v", err)
	}

	type result struct {
		l   executor.SharedLock
		err error
	}
	got := make(chan result, 1)
	go func() {
		l, _, err := r2.Lock(ctx, lockInfo("r2"), time.Minute, false)
		got <- result{l, err}
	}()
	// r2 is refused until r1 releases: its lock is not there yet.
	time.Sleep(500 * time.Millisecond)
	if info, _, _, err := r1.Holder(ctx); err != nil || info.ID != "r1" {
		t.Fatalf("holder while r2 waits: %+v %v", info, err)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	res := <-got
	if res.err != nil {
		t.Fatalf("waiting runner: %v", res.err)
	}
	if info, alive, _, err := r1.Holder(ctx); err != nil || info.ID != "r2" || !alive {
		t.Fatalf("holder after the wait: %+v alive=%v %v, want r2", info, alive, err)
	}
	if err := res.l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKilledHolder SIGKILLs a process holding the lock: the engine closes
// its exec's stdin, the session shell exits, and the lock is stale: Lock
// refuses it naming the holder, takes it over when asked, and Unlock
// removes a dead holder's lock but refuses a live one.
func TestKilledHolder(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := shellNginx(t, ctx, cli)
	s := New(cli, name, stateDir)

	helper := startHelper(t, name, stateDir, "dead1")
	dead := lockInfo("dead1")
	dead.PID = helper.Process.Pid
	h, err := s.readHolder(ctx, planLock)
	if err != nil || !h.alive || h.info.ID != "dead1" {
		t.Fatalf("holder of the helper: %+v %v, want dead1 alive", h, err)
	}
	pid, _, _ := strings.Cut(h.raw, " ")
	if got := run(t, ctx, s, `[ -d /proc/"$1" ] && echo running`, pid); got != "running\n" {
		t.Fatalf("session shell %s: %q", pid, got)
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	eventually(t, 20*time.Second, "the killed holder seen as gone", func() bool {
		_, alive, found, err := s.Holder(ctx)
		return err == nil && found && !alive
	})
	if got := run(t, ctx, s, `[ -d /proc/"$1" ] && echo running || echo gone`, pid); got != "gone\n" {
		t.Fatalf("session shell %s after SIGKILL of its plan: %q", pid, got)
	}

	_, _, err = s.Lock(ctx, lockInfo("new1"), time.Minute, false)
	var le *executor.LockError
	if !errors.As(err, &le) || !le.Stale || le.Holder != dead || !errors.Is(err, executor.ErrStaleLock) || !strings.Contains(err.Error(), "plan unlock dead1") {
		t.Fatalf("Lock over a dead holder: %v, want a stale LockError naming dead1", err)
	}
	if err := s.Unlock(ctx, "new1"); err == nil || err.Error() != "the lock's ID is dead1, not new1: nothing was removed" {
		t.Fatalf("Unlock with a wrong ID: %v", err)
	}
	l, prev, err := s.Lock(ctx, lockInfo("new1"), 0, true)
	if err != nil || prev == nil || *prev != dead {
		t.Fatalf("take over: %v, prev %+v, want dead1", err, prev)
	}
	if info, alive, _, err := s.Holder(ctx); err != nil || !alive || info.ID != "new1" {
		t.Fatalf("holder after the takeover: %+v alive=%v %v", info, alive, err)
	}
	if err := s.Unlock(ctx, "new1"); err == nil || !strings.Contains(err.Error(), "apply new1") || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("Unlock of a live holder: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, "new1"); err == nil || err.Error() != `there is no lock in nginx container "`+name+`" (/var/lib/nonstop/web)` {
		t.Fatalf("Unlock without a lock: %v", err)
	}

	// plan unlock of a killed holder.
	helper = startHelper(t, name, stateDir, "dead2")
	_ = helper.Process.Signal(syscall.SIGKILL)
	_ = helper.Wait()
	eventually(t, 20*time.Second, "the second killed holder seen as gone", func() bool {
		_, alive, found, err := s.Holder(ctx)
		return err == nil && found && !alive
	})
	if err := s.Unlock(ctx, "dead2"); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := s.Holder(ctx); err != nil || found {
		t.Fatalf("Holder after Unlock: found=%v %v", found, err)
	}
}

// TestSessionGone: when the session shell ends under a held lock (killed
// in the container here), Alive turns false and Append fails saying so;
// Release still removes the lock, which is still ours.
func TestSessionGone(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := shellNginx(t, ctx, cli)
	s := New(cli, name, stateDir)
	l, _, err := s.Lock(ctx, lockInfo("g1"), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, "applies/g1.jsonl", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	pid := l.(*sharedLock).ss.pid
	run(t, ctx, s, `kill -9 "$1"`, strconv.Itoa(pid))
	eventually(t, 20*time.Second, "Alive() false", func() bool { return !l.Alive() })
	if err := l.Append(ctx, "applies/g1.jsonl", []byte("{}")); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Fatalf("Append after the session ended: %v", err)
	}
	if _, alive, found, err := s.Holder(ctx); err != nil || !found || alive {
		t.Fatalf("Holder: alive=%v found=%v %v, want a stale lock", alive, found, err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := s.Holder(ctx); err != nil || found {
		t.Fatalf("Holder after Release: found=%v %v", found, err)
	}
}

// TestRecordsByteExact: a record reaches the target byte for byte, what
// the shell could mangle included (backslashes, quotes, $(...), %s,
// blanks at both ends, unicode, control bytes, 64 KiB), and a line with
// a newline or NUL is refused.
func TestRecordsByteExact(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := shellNginx(t, ctx, cli)
	s := New(cli, name, stateDir)
	l, _, err := s.Lock(ctx, lockInfo("b1"), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Release(ctx) }()
	long := bytes.Repeat([]byte(`{"k":"\\n\"$x%s`), 64<<10/15+1)[:64<<10]
	lines := [][]byte{
		[]byte(`{"e":"a\\b \\\\ \\n \"q\" 'single' $(rm -rf /) ` + "`id`" + ` $HOME %s %d %% \c"}`),
		[]byte("  \t leading and trailing blanks \t "),
		[]byte("unicode: héllo wörld 日本語 🚀 \u2028"),
		{0x01, 0x10, 0x11, 0x1b, '[', '0', 'm', 0x7f, 0xff, 0xfe, '\r', '\\'},
		[]byte("-n"),
		[]byte(""),
		long,
	}
	var want bytes.Buffer
	for _, line := range lines {
		if err := l.Append(ctx, "applies/b1.jsonl", line); err != nil {
			t.Fatalf("Append %.40q: %v", line, err)
		}
		want.Write(line)
		want.WriteByte('\n')
	}
	for _, bad := range [][]byte{[]byte("a\nb"), []byte("a\x00b")} {
		if err := l.Append(ctx, "applies/b1.jsonl", bad); err == nil {
			t.Errorf("Append %q accepted", bad)
		}
	}
	local := t.TempDir()
	if err := s.Pull(ctx, local); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(local, "applies", "b1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("journal differs: %d bytes, want %d; first difference at %d", len(got), want.Len(), firstDiff(got, want.Bytes()))
	}
	if !l.Alive() {
		t.Fatal("session ended during the writes")
	}
}

// TestNoShell: the plain offline nginx image has no shell: Check and Lock
// say what the image needs.
func TestNoShell(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	image, err := testimage.Nginx(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	name := startNginx(t, ctx, cli, image, true)
	s := New(cli, name, stateDir)
	err = s.Check(ctx)
	if !errors.Is(err, ErrNeedsTools) || !strings.Contains(err.Error(), "the official nginx images have them") {
		t.Fatalf("Check: %v, want ErrNeedsTools", err)
	}
	_, _, err = s.Lock(ctx, lockInfo("n1"), 0, false)
	if !errors.Is(err, ErrNeedsTools) {
		t.Fatalf("Lock: %v, want ErrNeedsTools", err)
	}
	t.Logf("the refusal: %v", err)

	stopped := startNginx(t, ctx, cli, image, false)
	if err := New(cli, stopped, stateDir).Check(ctx); err == nil || !strings.Contains(err.Error(), "start it") {
		t.Fatalf("Check of a stopped container: %v", err)
	}
}

// TestAppendFails: an append the shell cannot write (the journal is a
// folder here; a full disk in real life) fails with the shell's message,
// and the lock refuses every later append, since the file may end in a
// partial line.
func TestAppendFails(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := shellNginx(t, ctx, cli)
	s := New(cli, name, stateDir)
	if err := s.ensureDirs(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "f1.jsonl/", Typeflag: tar.TypeDir, Mode: 0o700})
	_ = tw.Close()
	if err := cli.CopyToContainer(ctx, name, stateDir+"/applies", &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatal(err)
	}
	l, _, err := s.Lock(ctx, lockInfo("f1"), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Append(ctx, "applies/f1.jsonl", []byte("{}"))
	if err == nil || !strings.Contains(err.Error(), "Is a directory") {
		t.Fatalf("Append to a folder: %v, want the shell's message", err)
	}
	if err := l.Append(ctx, "history.jsonl", []byte("{}")); err == nil || !strings.Contains(err.Error(), "an earlier write") {
		t.Fatalf("Append after a failed one: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := s.Holder(ctx); err != nil || found {
		t.Fatalf("Holder after Release: found=%v %v", found, err)
	}
}
