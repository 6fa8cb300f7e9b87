// This file decodes nginx blocks: container or host form, config, upstream,
// drain_timeout, mode (reload or dynamic).
package dsl

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// DefaultDrainTimeout bounds how long a drain waits for in-flight requests
// when the nginx block does not say.
const DefaultDrainTimeout = 30 * time.Second

// The values of an nginx block's mode: how membership changes reach nginx.
const (
	// NginxModeReload edits the upstream's server lines and reloads nginx
	// (the default: works with any nginx).
	NginxModeReload = "reload"
	// NginxModeDynamic changes membership at runtime through the Lua
	// balancer Nonstop ships, without a reload (docs/dynamic.md).
	NginxModeDynamic = "dynamic"
)

var nginxSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "container"}, {Name: "pid_file"}, {Name: "binary"}, {Name: "main_config"},
	{Name: "config", Required: true}, {Name: "upstream", Required: true},
	{Name: "drain_timeout"}, {Name: "engine"}, {Name: "mode"},
}}

type nginxBlock struct {
	block *hcl.Block
	model *Nginx
}

func (b *nginxBlock) value() cty.Value {
	m := b.model
	return cty.ObjectVal(map[string]cty.Value{
		"name":      cty.StringVal(m.Name),
		"container": cty.StringVal(m.Container.Value),
		"config":    cty.StringVal(m.Config.Value),
		"upstream":  cty.StringVal(m.Upstream.Value),
		"mode":      cty.StringVal(m.Mode.Value),
	})
}

func (l *loader) collectNginx(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, b := range blocks {
		name := b.Labels[0]
		if prev, ok := l.nginxByName[name]; ok {
			diags = append(diags, duplicate("nginx", fmt.Sprintf("%q", name), prev.block.DefRange, b.DefRange))
			continue
		}
		m := &Nginx{Name: name, DeclRange: b.DefRange}
		l.nginxByName[name] = &nginxBlock{block: b, model: m}
		l.plan.Nginx = append(l.plan.Nginx, m)
	}
	return diags
}

func (l *loader) decodeNginx() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, m := range l.plan.Nginx {
		b := l.nginxByName[m.Name].block
		dc := &DecodeContext{scope: &scope{loader: l}, DefRange: b.DefRange, Dir: filepath.Dir(b.DefRange.Filename)}
		r := dc.Read(b.Body, nginxSchema)
		m.Container = r.Name("container")
		m.PIDFile = r.Path("pid_file")
		m.MainConfig = r.Path("main_config")
		m.Config = r.Path("config")
		m.Upstream = r.Name("upstream")
		m.DrainTimeout = r.PositiveDuration("drain_timeout", DefaultDrainTimeout)
		m.Docker = r.Docker("engine")
		m.EngineSet = r.Has("engine")
		m.Mode = r.OneOf("mode", NginxModeReload, NginxModeReload, NginxModeDynamic)
		switch {
		case m.Container.Set && m.PIDFile.Set:
			r.Report(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Conflicting nginx forms",
				Detail:   "Set container (nginx runs in a Docker container) or pid_file (nginx runs on this host), not both.",
				Subject:  m.PIDFile.Range.Ptr(),
			})
		case !m.Container.Set && !m.PIDFile.Set && !r.Diags().HasErrors():
			r.Report(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Where does nginx run?",
				Detail:   "Set container = \"NAME\" for nginx in a Docker container, or pid_file = \"/run/nginx.pid\" for nginx on this host.",
				Subject:  b.DefRange.Ptr(),
			})
		}
		def := "/usr/sbin/nginx"
		if m.Container.Set {
			def = "nginx"
		}
		m.Binary = r.StringDefault("binary", def)
		diags = append(diags, r.Diags()...)
	}
	return diags
}
