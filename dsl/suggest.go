package dsl

import "github.com/nonstop-deploy/nonstop/internal/suggest"

// didYouMean renders a suggestion as a sentence to append to a detail, or "".
// The threshold is the whole tool's (internal/suggest), so a typo gets the
// same answer in a plan as in an nginx upstream or a container name.
func didYouMean(given string, candidates []string) string {
	return suggest.DidYouMean(given, candidates)
}
