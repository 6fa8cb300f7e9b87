// Package suggest is the tool's one "did you mean": every place that names
// something unknown (a step type, a variable, an upstream, a container) asks
// it, so a typo gets the same answer, by the same threshold, everywhere.
package suggest

import (
	"fmt"

	"strings"

	"github.com/agext/levenshtein"
)

// maxLen bounds the work: names are short, and a hostile plan must not make a
// suggestion quadratic in a 200 KB token.
const maxLen = 256

// Distance is the case-insensitive edit distance between a and b, or -1 when
// either is too long to compare.
func Distance(a, b string) int {
	if len(a) > maxLen || len(b) > maxLen {
		return -1
	}
	return levenshtein.Distance(strings.ToLower(a), strings.ToLower(b), nil)
}

// Close reports whether candidate is a plausible typo of given: an edit
// distance of at most a third of given's length, and never less than 2 (so
// "timout" finds "timeout" and "app" does not find "db"). It returns the
// distance for ranking.
func Close(given, candidate string) (int, bool) {
	d := Distance(given, candidate)
	if d < 0 || given == candidate {
		return d, false
	}
	return d, d <= max(2, len([]rune(given))/3)
}

// Closest returns the candidate closest to given that is Close, or "". Ties
// go to the earlier candidate, so callers that pass a sorted list get a
// stable answer.
func Closest(given string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d, ok := Close(given, c); ok && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// DidYouMean renders Closest as a sentence to append to a diagnostic's
// detail (` Did you mean "x"?`), or "" when nothing is close.
func DidYouMean(given string, candidates []string) string {
	if s := Closest(given, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}
