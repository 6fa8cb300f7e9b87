package steps

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// Builtin returns a fresh registry each time: registering into one changes
// no other, and a name cannot be registered twice.
func TestRegistry(t *testing.T) {
	a, b := Builtin(), Builtin()
	if got := strings.Join(a.Names(), " "); got != "cutover deploy drain gate health_check restore switch weight" {
		t.Fatalf("built-in types %q", got)
	}
	if err := a.Register(Drain{}); err == nil || !strings.Contains(err.Error(), "registered twice") {
		t.Errorf("registering drain again: %v", err)
	}
	type other struct{ Weight }
	if err := a.Register(renamed{other{}, "weight2"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Type("weight2"); ok {
		t.Error("a type registered into one registry shows in another")
	}
	if _, ok := a.Lookup("weight2"); !ok {
		t.Error("a registered type is not found by dsl")
	}
}

// renamed is a Type under another name.
type renamed struct {
	Type
	name string
}

func (r renamed) Name() string { return r.name }

// Undoing a journal entry of a type this binary does not know is an error,
// never a silent "undone".
func TestUndoUnknownType(t *testing.T) {
	env := NewEnv(zerolog.Nop(), Builtin())
	rec := json.RawMessage(`{"x":1}`)
	for _, undo := range []func(context.Context, *Env, string, json.RawMessage, func(string)) error{Undo, UndoInterrupted} {
		err := undo(context.Background(), env, "teleport", rec, func(string) {})
		if err == nil || !strings.Contains(err.Error(), `"teleport" is unknown`) {
			t.Errorf("undo of an unknown type: %v", err)
		}
	}
	if err := Finalize(context.Background(), env, "teleport", rec); err == nil {
		t.Error("finalize of an unknown type: no error")
	}
	if err := Undo(context.Background(), env, "health_check", rec, func(string) {}); err != nil {
		t.Errorf("undo of a health check: %v", err)
	}
}

// Every built-in type says what it is for and has a section in the user
// docs (docs/extending.md asks contributors for both).
func TestBuiltinTypesAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/dsl.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range Builtin().Names() {
		typ, _ := Builtin().Type(n)
		if strings.TrimSpace(typ.Summary()) == "" {
			t.Errorf("%s: empty Summary", n)
		}
		if !strings.Contains(string(doc), "\n### "+n+"\n") {
			t.Errorf("docs/dsl.md has no \"### %s\" section", n)
		}
	}
}
