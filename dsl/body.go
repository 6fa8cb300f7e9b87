// This file holds defaultsBody: a step body with a rollout's phase
// attributes filled in where the step leaves them out.
package dsl

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// defaultsBody is a body with fallback attributes: a rollout hands each phase
// the attributes it supplies (nginx, server, container) unless the phase sets
// them itself. The fallbacks are expressions, not values, so they evaluate in
// the phase's own scope (with `target` bound) and keep their source ranges.
type defaultsBody struct {
	hcl.Body
	defaults map[string]hcl.Expression
}

func (b *defaultsBody) relax(s *hcl.BodySchema) *hcl.BodySchema {
	out := &hcl.BodySchema{Blocks: s.Blocks}
	for _, a := range s.Attributes {
		if _, ok := b.defaults[a.Name]; ok {
			a.Required = false
		}
		out.Attributes = append(out.Attributes, a)
	}
	return out
}

func (b *defaultsBody) fill(s *hcl.BodySchema, c *hcl.BodyContent) {
	if c == nil {
		return
	}
	if c.Attributes == nil {
		c.Attributes = hcl.Attributes{}
	}
	for _, a := range s.Attributes {
		if _, set := c.Attributes[a.Name]; set {
			continue
		}
		if e, ok := b.defaults[a.Name]; ok {
			c.Attributes[a.Name] = &hcl.Attribute{Name: a.Name, Expr: e, Range: e.Range(), NameRange: e.Range()}
		}
	}
}

// Content implements hcl.Body.
func (b *defaultsBody) Content(s *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	c, diags := b.Body.Content(b.relax(s))
	b.fill(s, c)
	return c, diags
}

// PartialContent implements hcl.Body.
func (b *defaultsBody) PartialContent(s *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	c, rest, diags := b.Body.PartialContent(b.relax(s))
	b.fill(s, c)
	return c, rest, diags
}

// expressions lists every attribute expression of a body, nested blocks
// included, for implicit dependencies. Top-level attributes named in skip
// (meta-arguments) are left out.
func expressions(body hcl.Body, skip ...string) []hcl.Expression {
	switch b := body.(type) {
	case *defaultsBody:
		out := expressions(b.Body, skip...)
		for _, name := range sortedKeys(b.defaults) {
			out = append(out, b.defaults[name])
		}
		return out
	case *hclsyntax.Body:
		var out []hcl.Expression
	attrs:
		for _, name := range sortedKeys(b.Attributes) {
			for _, sk := range skip {
				if name == sk {
					continue attrs
				}
			}
			out = append(out, b.Attributes[name].Expr)
		}
		for _, blk := range b.Blocks {
			out = append(out, expressions(blk.Body)...)
		}
		return out
	}
	return nil
}
