package dsl

import (
	"fmt"

	"github.com/agext/levenshtein"
)

// suggest returns the candidate closest to given, or "" when none is close
// enough to be a plausible typo. The threshold follows HCL's own
// nameSuggestion so suggestions feel the same across the tool.
func suggest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean renders a suggestion as a sentence to append to a detail, or "".
func didYouMean(given string, candidates []string) string {
	if s := suggest(given, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}
