// This file holds a benchmark suite's settings, the machine it ran on, and
// its tables.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/docker/client"
)

// Settings are the knobs a suite ran with.
type Settings struct {
	Before       time.Duration `json:"before_ns"`
	After        time.Duration `json:"after_ns"`
	Workers      int           `json:"workers"`
	RunbookSleep time.Duration `json:"runbook_sleep_ns"`
	Repeat       int           `json:"repeat"`
}

// Suite is a whole plan-bench run: what it ran on, how, and every result.
type Suite struct {
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"took_ns"`
	Quick   bool          `json:"quick"`
	// Plan says which plan binary was measured (a commit).
	Plan     string   `json:"plan"`
	Machine  Machine  `json:"machine"`
	Settings Settings `json:"settings"`
	Results  []Result `json:"results"`
	// Primitives are the costs of plan apply's operations (full runs only).
	Primitives []Primitive `json:"primitives,omitempty"`
}

// Machine describes where the suite ran.
type Machine struct {
	CPU     string `json:"cpu"`
	Cores   int    `json:"cores"`
	Memory  string `json:"memory"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	Docker  string `json:"docker"`
	Nginx   string `json:"nginx"`
	LoadAvg string `json:"loadavg"`
}

// DescribeMachine reads /proc, the engine's version and nginx's.
func DescribeMachine(ctx context.Context, cli client.APIClient) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		_, _ = fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		m.Memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if v, err := cli.ServerVersion(ctx); err == nil {
		m.Docker = "Docker Engine " + v.Version + " (API " + v.APIVersion + ")"
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "/usr/sbin/nginx", "-v")
	cmd.Stderr = &out
	if cmd.Run() == nil {
		m.Nginx = strings.TrimPrefix(strings.TrimSpace(out.String()), "nginx version: ")
	}
	return m
}

// Table is a plain-text table of every result, for the terminal.
func Table(s *Suite) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "procedure\ttopology/scenario\trequests\tfailed\tnon-2xx\ttransport\tkinds\tp99 before\tp99 during\tmax during\twall\t")
	for _, r := range s.Results {
		kinds := r.Total.Kinds()
		if kinds == "" {
			kinds = "-"
		}
		if r.Err != "" {
			kinds += " (procedure failed)"
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%.1fs\t\n", r.Procedure, r.Topology, r.Scenario,
			r.Total.Requests, r.Total.Failed, r.Total.Non2xx, r.Total.TransportErrors, kinds,
			msString(r.BeforeLoad.P99), msString(r.During.P99), msString(r.During.Max), r.Wall.Seconds())
	}
	_ = tw.Flush()
	return b.String()
}

func msString(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}
