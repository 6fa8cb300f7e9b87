package dsl

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var dockerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "host"}, {Name: "compose_project"},
}}

type dockerBlock struct {
	block *hcl.Block
	model *Docker
}

func (b *dockerBlock) value() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"name":            cty.StringVal(b.model.Name),
		"host":            cty.StringVal(b.model.Host.Value),
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
		dc := &DecodeContext{scope: &scope{loader: l}, DefRange: b.DefRange}
		r := dc.Read(b.Body, dockerSchema)
		m.Host = r.String("host")
		m.ComposeProject = r.String("compose_project")
		diags = append(diags, r.Diags()...)
	}
	return diags
}
