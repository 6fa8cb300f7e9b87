// This file holds the plan model Load returns: Plan, Step, Barrier and the
// blocks, each value keeping the source range it came from.
package dsl

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Plan is a decoded, validated plan: everything apply needs, with the source
// range of every value so that late errors still point at file:line.
type Plan struct {
	// Name and Description come from the plan {} block; Name defaults to
	// the file (or folder) name.
	Name        string
	Description string
	// OnFailure is "rollback" (default) or "stop".
	OnFailure String
	// State is where the lock, journals and history are shared with every
	// runner (`state = nginx.NAME`); nil keeps them in .nonstop/ next to
	// the plan.
	State *State
	// StateDecl is where the plan block asks for shared state, set even
	// when State could not be resolved: commands that must work on a plan
	// with errors (rollback, status) then know not to look in .nonstop/.
	StateDecl *hcl.Range
	// Path is the file or folder the plan was loaded from, Dir the folder
	// relative paths in it are resolved against.
	Path, Dir string
	// Files holds the parsed sources, keyed by file name, for rendering
	// diagnostics with source snippets.
	Files map[string]*hcl.File

	Variables []*Variable
	Docker    []*Docker
	Nginx     []*Nginx
	Rollouts  []*Rollout
	// Steps holds every step instance after for_each and rollout expansion,
	// in source order.
	Steps []*Step
	// Barriers holds the points where the targets of a rollout batch wait
	// for each other (see Barrier).
	Barriers []*Barrier
	// BlueGreens are the blue_green blocks (bluegreen.go).
	BlueGreens []*BlueGreen
}

// Barrier is a point of the step graph that is not a step: it is reached
// when every step of After is done, and the steps that depend on it (by
// its Addr, in their DependsOn) wait for all of those at once. A rollout
// batch moves in lockstep through one barrier per phase: b targets make
// 2b edges, not the b² of every step waiting for every other. Nothing runs
// at a barrier; show and graph list steps only.
type Barrier struct {
	// Addr names the barrier in dependencies and messages:
	// `rollout.apps batch 1 drained`. It is never a step address.
	Addr string
	// After lists the addresses of the steps it waits for.
	After []string
	// Range is the block the barrier comes from.
	Range hcl.Range
}

// Step returns the step instance with the given address, or nil.
func (p *Plan) Step(addr string) *Step {
	for _, s := range p.Steps {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// NginxByName returns the nginx block with the given name, or nil.
func (p *Plan) NginxByName(name string) *Nginx {
	for _, n := range p.Nginx {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Step is one step instance: a `step` block, one for_each instance of it, or
// one phase of a rollout target.
type Step struct {
	// Addr is the stable address users see and reference:
	// step.deploy.app2, step.deploy.app["app2"], rollout.apps["app2"].deploy.
	Addr string
	// Type is the step type name; Name the block's second label (for rollout
	// phases, the rollout name).
	Type, Name string
	// Key is the for_each key or rollout target, "" otherwise.
	Key string
	// Spec is the body decoded by the step type.
	Spec Spec
	// DependsOn lists the steps this one must wait for, explicit and
	// implicit, resolved to instance addresses, each with the range of the
	// reference that caused it.
	DependsOn []Dependency
	// Timeout is the step's deadline (the `timeout` meta-argument); zero
	// means the step type's default.
	Timeout Duration
	// DeclRange is the block header, TypeRange the type label.
	DeclRange, TypeRange hcl.Range
}

// Dependency is an edge of the step graph: this step runs after Addr.
type Dependency struct {
	Addr string
	// Range is where the dependency was declared (a depends_on element or a
	// reference), so a cycle can point at the edge that closes it.
	Range hcl.Range
	// Implicit is true when the edge comes from a reference rather than
	// depends_on, or from rollout chaining.
	Implicit bool
}

// Variable is a declared input variable and the value it resolved to.
type Variable struct {
	Name        string
	Description string
	Sensitive   bool
	Default     *String // nil when there is no default
	// Value is the resolved value rendered in HCL syntax, "(sensitive)" for
	// a sensitive variable.
	Value string
	// Source says where the value came from: "default", "-var",
	// "-var-file FILE", "env PLAN_VAR_x".
	Source    string
	DeclRange hcl.Range
}

// Docker is a `docker` block: how to reach an engine.
type Docker struct {
	Name string
	// Host is the engine address (unix://, tcp://, ssh://); empty with no
	// Context means as the docker CLI chooses (DOCKER_HOST, DOCKER_CONTEXT,
	// the current context, the default socket).
	Host String
	// Context names a Docker CLI context (`docker context ls`), instead of
	// Host.
	Context String
	// CAFile, CertFile and KeyFile are TLS files for a tcp:// Host,
	// absolute; TLSVerify verifies the engine's certificate.
	CAFile, CertFile, KeyFile String
	TLSVerify                 Bool
	// ComposeProject scopes container lookups to one Docker Compose project,
	// so a step may name a container by its Compose service ("app2").
	ComposeProject String
	DeclRange      hcl.Range
}

// Nginx is an `nginx` block: the load balancer that steps drain and restore.
type Nginx struct {
	Name string
	// Container is set for nginx in a container (reload and `nginx -t`
	// through the Docker API); PIDFile for nginx on the host.
	Container String
	PIDFile   String
	// Binary is the nginx executable (host form), default /usr/sbin/nginx,
	// or inside the container, default "nginx".
	Binary String
	// MainConfig is the file `nginx -t -c` checks (host form); empty means
	// nginx's compiled-in default.
	MainConfig String
	// Config is the absolute host path of the file holding the upstream.
	Config String
	// Upstream is the upstream block the servers belong to.
	Upstream     String
	DrainTimeout Duration
	// Docker is the engine the nginx container runs on (nil: the default).
	Docker    *Docker
	DeclRange hcl.Range
	// EngineSet is true when the block names its engine itself (a host
	// form nginx said to be with that engine), not by default.
	EngineSet bool
	// Mode is the membership backend: NginxModeReload (edit the config
	// and reload) or NginxModeDynamic (the Lua balancer Nonstop ships,
	// membership changed at runtime without a reload; docs/dynamic.md).
	Mode String
}

// Rollout is a `rollout` block as written; its expansion lives in Plan.Steps.
type Rollout struct {
	Name      string
	Targets   []string
	BatchSize int
	DeclRange hcl.Range
}

// String is a decoded string attribute with where it came from.
type String struct {
	Value string
	// Set is false when the attribute was absent and Value is a default.
	Set bool
	// Sensitive is true when the value derives from a sensitive variable.
	Sensitive bool
	Range     hcl.Range
}

// Duration is a decoded duration attribute such as "500ms" or "30s".
type Duration struct {
	Value time.Duration
	Set   bool
	Range hcl.Range
}

// Int is a decoded whole-number attribute.
type Int struct {
	Value int
	Set   bool
	Range hcl.Range
}

// Bool is a decoded boolean attribute.
type Bool struct {
	Value bool
	Set   bool
	Range hcl.Range
}

// StringMap is a decoded map of strings, such as a container's env.
type StringMap struct {
	Value     map[string]string
	Set       bool
	Sensitive bool
	Range     hcl.Range
}

// StringList is a decoded list of strings, such as an exec argv.
type StringList struct {
	Value     []string
	Set       bool
	Sensitive bool
	Range     hcl.Range
}
