// This file holds the benchmarks: a record appended on a held lock, and
// the same through a new exec per record, the design it avoids.
package targetstate

import (
	"bytes"
	"context"
	"testing"

	"github.com/nonstop-deploy/nonstop/internal/testkit/testenv"
)

// BenchmarkAppend measures one record appended on a held lock: one round
// trip on the open session.
func BenchmarkAppend(b *testing.B) {
	cli := testenv.Docker(b)
	ctx := context.Background()
	name := shellNginx(b, ctx, cli)
	s := New(cli, name, stateDir)
	l, _, err := s.Lock(ctx, lockInfo("bench"), 0, false)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = l.Release(ctx) }()
	line := []byte(`{"kind":"intent","step":"docker_container.web_blue","time":"2026-11-27T12:00:00Z","record":{"id":"3f2a9c"}}`)
	b.ResetTimer()
	for b.Loop() {
		if err := l.Append(ctx, "applies/bench.jsonl", line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend64KiB measures the largest record the tests send: the
// shell reads its input a byte at a time.
func BenchmarkAppend64KiB(b *testing.B) {
	cli := testenv.Docker(b)
	ctx := context.Background()
	name := shellNginx(b, ctx, cli)
	s := New(cli, name, stateDir)
	l, _, err := s.Lock(ctx, lockInfo("bench"), 0, false)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = l.Release(ctx) }()
	line := bytes.Repeat([]byte("x"), 64<<10)
	b.ResetTimer()
	for b.Loop() {
		if err := l.Append(ctx, "applies/bench.jsonl", line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendByExec is what Append would cost with a new exec per
// record, the design it avoids: compare with BenchmarkAppend.
func BenchmarkAppendByExec(b *testing.B) {
	cli := testenv.Docker(b)
	ctx := context.Background()
	name := shellNginx(b, ctx, cli)
	s := New(cli, name, stateDir)
	if err := s.ensureDirs(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		run(b, ctx, s, `printf '%s\n' "$1" >> "$2"`, `{"kind":"intent"}`, stateDir+"/applies/bench.jsonl")
	}
}
