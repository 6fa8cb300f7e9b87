// This file tests the `backup` edits: SetBackup's byte-preserving rules and
// its refusal for balancing methods nginx refuses backup servers with, a
// fuzz of it, and the reload backend's OpSetBackup / OpUnsetBackup in a
// batch (one reload, undone from a journal byte for byte, semantic inverse
// when the line changed since) with the fake runtime.
package nginx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestSetBackup(t *testing.T) {
	tests := []struct {
		name      string
		src, want string
		backup    bool
	}{
		{"add", "upstream u {\n    server a:1;\n}\n", "upstream u {\n    server a:1 backup;\n}\n", true},
		{"add after params", "upstream u { server a:1 weight=5 max_fails=3; }", "upstream u { server a:1 weight=5 max_fails=3 backup; }", true},
		{"add to a down line", "upstream u { server a:1 down; }", "upstream u { server a:1 down backup; }", true},
		{"space before ;", "upstream u { server a:1 ; }", "upstream u { server a:1 backup ; }", true},
		{"comment after", "upstream u {\n  server a:1; # server a:1;\n}\n", "upstream u {\n  server a:1 backup; # server a:1;\n}\n", true},
		{"already backup is a noop", "upstream u { server a:1 backup ; }", "upstream u { server a:1 backup ; }", true},
		{"remove", "upstream u { server a:1 backup; }", "upstream u { server a:1; }", false},
		{"remove in the middle", "upstream u { server a:1 backup weight=2; }", "upstream u { server a:1 weight=2; }", false},
		{"remove quoted and duplicates", "upstream u { server a:1 'backup' backup; }", "upstream u { server a:1; }", false},
		{"remove CRLF", "upstream u {\r\n\tserver a:1\tbackup;\r\n}\r\n", "upstream u {\r\n\tserver a:1;\r\n}\r\n", false},
		{"remove absent is a noop", "upstream u { server a:1; }", "upstream u { server a:1; }", false},
		{"least_conn allows it", "upstream u { least_conn; server a:1; }", "upstream u { least_conn; server a:1 backup; }", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetBackup([]byte(tt.src), "u", "a:1", tt.backup)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("SetBackup(%t):\n got %q\nwant %q", tt.backup, got, tt.want)
			}
			c, err := ParseConfig("", got)
			if err != nil {
				t.Fatalf("result does not parse: %v", err)
			}
			u, _ := c.Upstream("u")
			if s, _ := u.Server("a:1"); isBackup(s) != tt.backup {
				t.Fatalf("re-parsed backup = %t", isBackup(s))
			}
			if tt.backup && !strings.Contains(tt.src, "backup") {
				back, err := SetBackup(got, "u", "a:1", false)
				if err != nil || string(back) != tt.src {
					t.Fatalf("round trip: %v\n got %q\nwant %q", err, back, tt.src)
				}
			}
		})
	}
}

// nginx refuses `backup` with hash, ip_hash and random ("balancing method
// does not support parameter backup"): the edit says so before nginx -t,
// naming the method and what to do. Removing backup is always allowed.
func TestSetBackupBalancingMethods(t *testing.T) {
	for _, m := range []string{"hash $remote_addr consistent;", "ip_hash;", "random two;"} {
		src := "http {\n  upstream u {\n    " + m + "\n    server a:1;\n  }\n  upstream v { server a:1; }\n}\n"
		_, err := SetBackup([]byte(src), "u", "a:1", true)
		method := strings.Fields(strings.TrimSuffix(m, ";"))[0]
		if !errors.Is(err, ErrBackupUnsupported) || !strings.Contains(err.Error(), `balanced by "`+method+`"`) || !strings.Contains(err.Error(), `idle = "down"`) {
			t.Errorf("%s: SetBackup = %v, want ErrBackupUnsupported naming %s", m, err, method)
		}
		// Another upstream of the file is not affected.
		if _, err := SetBackup([]byte(src), "v", "a:1", true); err != nil {
			t.Errorf("%s: SetBackup in the other upstream: %v", m, err)
		}
		if _, err := SetBackup([]byte(src), "u", "a:1", false); err != nil {
			t.Errorf("%s: removing backup: %v", m, err)
		}
	}
}

// FuzzSetBackup: the result parses, the server has exactly the requested
// flag, no other directive changes, and adding then removing it gives
// back the input byte for byte.
func FuzzSetBackup(f *testing.F) {
	if seed, err := os.ReadFile("../plans/proxy/nginx.conf"); err == nil {
		f.Add(seed, "apps", "app2:3000", true)
		f.Add(seed, "apps", "app1:3000", false)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "u", "a:1", true)
		f.Add([]byte(s), "u", "a:1", false)
	}
	f.Add([]byte("upstream u { server a:1 backup down backup; }"), "u", "a:1", false)
	f.Fuzz(func(t *testing.T, data []byte, upstream, server string, backup bool) {
		out, err := SetBackup(data, upstream, server, backup)
		if err != nil {
			if out != nil {
				t.Fatal("output with an error")
			}
			return
		}
		cfg, err := ParseConfig("out", out)
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		u, ok := cfg.Upstream(upstream)
		if !ok {
			t.Fatal("upstream gone")
		}
		s, ok := u.Server(server)
		if !ok || isBackup(s) != backup {
			t.Fatalf("server %q: found %v, want backup %v", server, ok, backup)
		}
		if bytes.Equal(out, data) {
			return
		}
		if backup {
			checkOnlyParamChanged(t, data, out, upstream, server, "backup")
			if back, _ := SetBackup(out, upstream, server, false); !bytes.Equal(back, data) {
				t.Fatalf("round trip:\n in %q\nback %q", data, back)
			}
			return
		}
		checkServerEdit(t, data, out, upstream, server, func(v []string) []string {
			return append(v[:2:2], slices.DeleteFunc(v[2:], func(p string) bool { return p == "backup" })...)
		})
	})
}

const backupConf = "events {}\nhttp {\n    upstream apps {\n        server blue1:3000;\n        server blue2:3000 weight=2;\n        server green1:3000 backup;\n        server green2:3000 weight=2 backup;\n    }\n}\n"

// A blue/green swap with idle = "backup" is one ChangeMany (one reload),
// records each line's previous flag, and UndoMany from a journal decoded
// in a new process gives back the exact bytes in one more reload.
func TestBalancerBackupSwap(t *testing.T) {
	ctx := context.Background()
	b, rt, path := setup(t, backupConf, false)
	for _, h := range []string{"blue1", "blue2", "green1", "green2"} {
		rt.resolves[h] = true
	}
	cs, err := ChangeMany(ctx, b, []Change{
		{Op: OpUnsetBackup, Server: "green1:3000"}, {Op: OpUnsetBackup, Server: "green2:3000"},
		{Op: OpSetBackup, Server: "blue1:3000"}, {Op: OpSetBackup, Server: "blue2:3000"},
	})
	if err != nil || rt.reloads != 1 {
		t.Fatalf("ChangeMany: %v, %d reloads", err, rt.reloads)
	}
	want := "events {}\nhttp {\n    upstream apps {\n        server blue1:3000 backup;\n        server blue2:3000 weight=2 backup;\n        server green1:3000;\n        server green2:3000 weight=2;\n    }\n}\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("after the swap:\n%s", got)
	}
	if !cs[0].PrevBackup || !cs[1].PrevBackup || cs[2].PrevBackup || cs[3].PrevBackup {
		t.Fatalf("PrevBackup: %+v", cs)
	}
	ms, err := b.Members(ctx)
	if err != nil || !ms[0].Backup || ms[2].Backup {
		t.Fatalf("Members after the swap: %+v, %v", ms, err)
	}
	raw, _ := json.Marshal(cs)
	var decoded []Change
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	b2 := New(Options{ConfigPath: path, Upstream: "apps", Runtime: rt})
	if err := b2.UndoMany(ctx, decoded); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != backupConf || rt.reloads != 2 {
		t.Fatalf("after UndoMany (%d reloads):\n%s", rt.reloads, got)
	}
	// The swap again, then a line edited since by someone else: Undo
	// applies the semantic inverse and keeps the other edit.
	cs, err = b.ChangeMany(ctx, decoded)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetWeight(ctx, "blue1:3000", 7); err != nil {
		t.Fatal(err)
	}
	if err := b.Undo(ctx, cs[2]); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); !strings.Contains(got, "server blue1:3000 weight=7;\n") {
		t.Fatalf("semantic undo of set_backup:\n%s", got)
	}
}

// Putting a backup line into rotation checks that its host resolves, as
// Restore does, and changes nothing when it does not.
func TestBalancerUnsetBackupUnresolvable(t *testing.T) {
	ctx := context.Background()
	b, rt, path := setup(t, backupConf, false)
	rt.resolves["green1"] = false
	_, err := b.ChangeMany(ctx, []Change{{Op: OpUnsetBackup, Server: "green1:3000"}, {Op: OpSetBackup, Server: "blue1:3000"}})
	if !errors.Is(err, ErrUnresolvable) || rt.reloads != 0 || readFile(t, path) != backupConf {
		t.Fatalf("ChangeMany: %v, %d reloads", err, rt.reloads)
	}
}

// CheckBackup, the preflight of idle = "backup", refuses an upstream
// balanced by a method nginx allows no backup servers with, and passes
// the others, changing nothing.
func TestBalancerCheckBackup(t *testing.T) {
	ctx := context.Background()
	b, rt, path := setup(t, backupConf, false)
	if err := b.CheckBackup(ctx); err != nil {
		t.Errorf("round robin: %v", err)
	}
	hashed := strings.Replace(backupConf, "upstream apps {\n", "upstream apps {\n        hash $request_uri;\n", 1)
	if err := os.WriteFile(path, []byte(hashed), 0o644); err != nil {
		t.Fatal(err)
	}
	err := b.CheckBackup(ctx)
	if !errors.Is(err, ErrBackupUnsupported) || !strings.Contains(err.Error(), `balanced by "hash"`) {
		t.Errorf("hash: %v, want ErrBackupUnsupported", err)
	}
	if readFile(t, path) != hashed || rt.reloads != 0 {
		t.Errorf("CheckBackup changed something (%d reloads)", rt.reloads)
	}
}
