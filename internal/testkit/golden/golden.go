// Package golden is the one golden-file helper of the tests: compare output
// with a file under testdata, or rewrite the file with -update after review.
package golden

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
)

// update is the test binary's -update flag:
//
//	go test ./PKG -update
var update = flag.Bool("update", false, "rewrite golden files from the current output")

// Assert compares got with the file at path, or rewrites that file when the
// test runs with -update. A difference fails the test with a unified diff,
// which reads better than two whole outputs when one line moved.
func Assert(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(want)), B: difflib.SplitLines(string(got)),
		FromFile: path, ToFile: "got", Context: 3,
	})
	t.Errorf("%s differs (go test -update rewrites it after review):\n%s", path, diff)
}
