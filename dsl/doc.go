// Package dsl turns plan files written in HCL into a typed, validated plan
// model, or into hcl.Diagnostics that point at the offending source.
//
// A plan is one .hcl file or a folder of them. Decoding runs in two phases,
// as in Terraform and Packer: the package decodes the blocks it owns (plan,
// variable, locals, docker, nginx, rollout) and the meta-arguments of every
// step (depends_on, for_each, timeout) itself, then hands the rest of each
// step body to the step type's own decoder, found in a Registry the caller
// passes in. That keeps this package free of Docker and nginx: it knows the
// shape of a plan, never how a step is carried out.
//
// Every decoded value keeps its source range, so a problem found late (a
// cycle in the step graph, a container that does not exist at apply time)
// can still point at file:line.
package dsl
