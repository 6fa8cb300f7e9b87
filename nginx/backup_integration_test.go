package nginx

// This file tests the backup swap on a real nginx (on the host): moving
// `backup` from one colour to the other is one reload, nginx then answers
// only from the colour without it, and UndoMany is one more reload that
// gives back the config byte for byte. nginx's own `nginx -t` refusal of
// backup with hash is never reached: the edit refuses first, clearly.

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

func TestBackupSwapHostNginxIntegration(t *testing.T) {
	bin := testenv.NginxBinary(t)
	ctx := context.Background()
	blue := newBackend(t, "blue", make(chan string, 1), 0)
	green := newBackend(t, "green", make(chan string, 1), 0)
	h := startHostNginx(t, bin, blue.addr(), green.addr()+" backup")
	rt := HostRuntime(h.pidFile, bin, h.conf)
	bal := New(Options{ConfigPath: h.conf, Upstream: "apps", Runtime: rt, Log: testLogger(t)})
	waitWorkers(t, rt, 2)
	if err := bal.Check(ctx, []string{blue.addr(), green.addr()}); err != nil {
		t.Fatal(err)
	}
	if seen := hits(t, h.url, 20); seen["blue"] != 20 {
		t.Fatalf("before: nginx answers %v; want only blue (green is backup)", seen)
	}
	reloads := h.reconfigurations(t)

	cs, err := ChangeMany(ctx, bal, []Change{{Op: OpUnsetBackup, Server: green.addr()}, {Op: OpSetBackup, Server: blue.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	if n := h.reconfigurations(t) - reloads; n != 1 {
		t.Errorf("backup swap: nginx reloaded %d times, want 1", n)
	}
	if seen := hits(t, h.url, 20); seen["green"] != 20 {
		t.Errorf("after the swap nginx answers %v; want only green", seen)
	}
	if _, err := bal.WaitDrained(ctx, cs[1], 0); err != nil {
		t.Fatal(err)
	}

	if err := UndoMany(ctx, bal, cs); err != nil {
		t.Fatal(err)
	}
	if n := h.reconfigurations(t) - reloads; n != 2 {
		t.Errorf("swap and UndoMany: nginx reloaded %d times in all, want 2", n)
	}
	if got := h.read(t); !bytes.Equal(got, h.orig) {
		t.Errorf("config after UndoMany differs from the original:\n%s", got)
	}
	if seen := hits(t, h.url, 20); seen["blue"] != 20 {
		t.Errorf("after UndoMany nginx answers %v; want only blue", seen)
	}

	// With ip_hash, nginx refuses backup servers: the batch is refused
	// before anything is written, with a message that names the method.
	hashed := bytes.Replace(h.orig, []byte("upstream apps {\n"), []byte("upstream apps {\n        ip_hash;\n"), 1)
	hashed = bytes.Replace(hashed, []byte(green.addr()+" backup;"), []byte(green.addr()+" down;"), 1)
	h.write(t, hashed)
	if err := bal.CheckBackup(ctx); !errors.Is(err, ErrBackupUnsupported) {
		t.Errorf("CheckBackup with ip_hash: %v, want ErrBackupUnsupported", err)
	}
	_, err = ChangeMany(ctx, bal, []Change{{Op: OpRestore, Server: green.addr()}, {Op: OpSetBackup, Server: blue.addr()}})
	if !errors.Is(err, ErrBackupUnsupported) {
		t.Errorf("backup with ip_hash: %v, want ErrBackupUnsupported", err)
	}
	if got := h.read(t); !bytes.Equal(got, hashed) {
		t.Errorf("a refused batch changed the config:\n%s", got)
	}
}
