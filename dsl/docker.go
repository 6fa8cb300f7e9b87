// This file holds the docker block: how to reach one Docker Engine, as the
// docker CLI reaches it (host, TLS files, or a Docker CLI context).
package dsl

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var dockerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "host"}, {Name: "context"}, {Name: "compose_project"},
	{Name: "ca_file"}, {Name: "cert_file"}, {Name: "key_file"}, {Name: "tls_verify"},
}}

type dockerBlock struct {
	block *hcl.Block
	model *Docker
}

func (b *dockerBlock) value() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"name":            cty.StringVal(b.model.Name),
		"host":            cty.StringVal(b.model.Host.Value),
		"context":         cty.StringVal(b.model.Context.Value),
		"compose_project": cty.StringVal(b.model.ComposeProject.Value),
	})
}

func (l *loader) collectDocker(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, b := range blocks {
		name := b.Labels[0]
		if prev, ok := l.dockerByName[name]; ok {
			diags = append(diags, duplicate("docker", fmt.Sprintf("%q", name), prev.block.DefRange, b.DefRange))
			continue
		}
		m := &Docker{Name: name, DeclRange: b.DefRange}
		l.dockerByName[name] = &dockerBlock{block: b, model: m}
		l.plan.Docker = append(l.plan.Docker, m)
	}
	return diags
}

func (l *loader) decodeDocker() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, m := range l.plan.Docker {
		b := l.dockerByName[m.Name].block
		dc := &DecodeContext{scope: &scope{loader: l}, DefRange: b.DefRange, Dir: filepath.Dir(b.DefRange.Filename)}
		r := dc.Read(b.Body, dockerSchema)
		m.Host = r.String("host")
		m.Context = r.String("context")
		m.ComposeProject = r.String("compose_project")
		m.CAFile = r.Path("ca_file")
		m.CertFile = r.Path("cert_file")
		m.KeyFile = r.Path("key_file")
		m.TLSVerify = r.Bool("tls_verify", false)
		checkDocker(r, m)
		diags = append(diags, r.Diags()...)
	}
	return diags
}

// engineSchemes are the engine addresses the docker CLI dials (fd:// and
// npipe:// are for other platforms or for the daemon).
var engineSchemes = []string{"unix", "tcp", "ssh"}

// checkDocker reports a docker block that cannot name one engine: host and
// context together, an unknown address scheme, TLS files on an address
// that is not tcp://, a client certificate without its key.
func checkDocker(r *Reader, m *Docker) {
	bad := func(rng hcl.Range, summary, detail string) {
		r.Report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()})
	}
	if m.Host.Set && m.Context.Set {
		bad(m.Context.Range, "Both host and context", "A docker block reaches its engine by host or by a Docker CLI context, not both: remove one of them.")
	}
	scheme := "tcp" // the docker CLI reads a bare host:port as tcp://
	if s, _, ok := strings.Cut(m.Host.Value, "://"); ok {
		scheme = s
	}
	if m.Host.Set && (m.Host.Value == "" || !slices.Contains(engineSchemes, scheme)) {
		bad(m.Host.Range, "Invalid engine address",
			fmt.Sprintf("%q is not an engine address the docker CLI dials. Write unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST[:PORT].", m.Host.Value))
	}
	tls := []String{m.CAFile, m.CertFile, m.KeyFile}
	if m.TLSVerify.Set {
		tls = append(tls, String{Set: true, Range: m.TLSVerify.Range})
	}
	for _, a := range tls {
		if a.Set && (!m.Host.Set || scheme != "tcp") {
			bad(a.Range, "TLS settings without a tcp:// host",
				"ca_file, cert_file, key_file and tls_verify apply to an engine reached at host = \"tcp://HOST:PORT\". An ssh:// or unix:// engine needs none; a context carries its own TLS files.")
			break
		}
	}
	if m.CertFile.Set != m.KeyFile.Set {
		rng := m.CertFile.Range
		if m.KeyFile.Set {
			rng = m.KeyFile.Range
		}
		bad(rng, "Client certificate without its key", "cert_file and key_file go together: set both, or neither.")
	}
}
