package targetstate

// This file tests what Pull copies (only the newest journal and the
// history, however many applies the target keeps) and that taking the
// lock cuts a torn last line off the files the holder appends to next.

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// putFiles writes files into the state folder through the archive API,
// as another runner (or a crash) would have left them.
func putFiles(t *testing.T, ctx context.Context, cli client.APIClient, name string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for file, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: file, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cli.CopyToContainer(ctx, name, stateDir, &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestPullNewestOnly(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := shellNginx(t, ctx, cli)
	s := New(cli, name, stateDir)
	if err := s.ensureDirs(ctx); err != nil {
		t.Fatal(err)
	}
	putFiles(t, ctx, cli, name, map[string]string{
		"applies/20260101T000000.000000Z-aaaaaa.jsonl": "{\"old\":1}\n",
		"applies/20261127T100000.000000Z-bbbbbb.jsonl": "{\"newest\":1}\n",
		"applies/20260601T000000.000000Z-cccccc.jsonl": "{\"middle\":1}\n",
		"history.jsonl": "{\"h\":1}\n",
	})
	local := t.TempDir()
	if err := os.MkdirAll(filepath.Join(local, "applies"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A journal pulled earlier, no longer the newest.
	if err := os.WriteFile(filepath.Join(local, "applies", "20260101T000000.000000Z-aaaaaa.jsonl"), []byte("{\"old\":1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Pull(ctx, local); err != nil {
		t.Fatal(err)
	}
	assertEntries(t, filepath.Join(local, "applies"), "20261127T100000.000000Z-bbbbbb.jsonl")
	assertFile(t, filepath.Join(local, "applies", "20261127T100000.000000Z-bbbbbb.jsonl"), "{\"newest\":1}\n")
	assertFile(t, filepath.Join(local, "history.jsonl"), "{\"h\":1}\n")
}

func TestLockCutsTornTails(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := shellNginx(t, ctx, cli)
	s := New(cli, name, stateDir)
	if err := s.ensureDirs(ctx); err != nil {
		t.Fatal(err)
	}
	const journal = "applies/20261127T100000.000000Z-bbbbbb.jsonl"
	putFiles(t, ctx, cli, name, map[string]string{
		journal:         "{\"kind\":\"begin\"}\n{\"kind\":\"do",
		"history.jsonl": "{\"h\":1}\n{\"h\"",
	})
	l, _, err := s.Lock(ctx, lockInfo("r1"), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Release(ctx) }()
	for _, f := range []string{journal, "history.jsonl"} {
		if err := l.Append(ctx, f, []byte(`{"next":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	for file, want := range map[string]string{
		journal:         "{\"kind\":\"begin\"}\n{\"next\":1}\n",
		"history.jsonl": "{\"h\":1}\n{\"next\":1}\n",
	} {
		b, found, err := s.readFile(ctx, file)
		if err != nil || !found || string(b) != want {
			t.Errorf("%s in the container = %q (found %v, %v), want %q: the torn line was not cut before the append", file, b, found, err, want)
		}
	}
}
