// This file holds dsl's use of the tool's one did-you-mean.
package dsl

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/hashicorp/hcl/v2"

	"github.com/nonstop-deploy/nonstop/internal/suggest"
)

// didYouMean renders a suggestion as a sentence to append to a detail, or "".
// The threshold is the whole tool's (internal/suggest), so a typo gets the
// same answer in a plan as in an nginx upstream or a container name.
func didYouMean(given string, candidates []string) string {
	return suggest.DidYouMean(given, candidates)
}

var (
	unsupportedArg   = regexp.MustCompile(`^An argument named ("(?:[^"\\]|\\.)*") is not expected here\.`)
	unsupportedBlock = regexp.MustCompile(`^Blocks of type ("(?:[^"\\]|\\.)*") are not expected here\.`)
)

// resuggest redoes HCL's "Did you mean" of unsupported arguments and
// blocks with the tool's one threshold, over the schema's names and the
// meta-arguments dsl removed from the body before (HCL cannot know them:
// "dependson" got no suggestion while ordinary attributes did).
func resuggest(diags hcl.Diagnostics, schema *hcl.BodySchema, content *hcl.BodyContent, meta []string) hcl.Diagnostics {
	for _, d := range diags {
		switch d.Summary {
		case "Unsupported argument":
			m := unsupportedArg.FindStringSubmatch(d.Detail)
			if m == nil {
				continue
			}
			name, err := strconv.Unquote(m[1])
			if err != nil {
				continue
			}
			var names []string
			for _, a := range schema.Attributes {
				if content == nil || content.Attributes[a.Name] == nil {
					names = append(names, a.Name)
				}
			}
			names = append(names, meta...)
			hint := didYouMean(name, names)
			if hint == "" {
				for _, b := range schema.Blocks {
					if b.Type == name {
						hint = fmt.Sprintf(" Did you mean to define a block of type %q?", name)
					}
				}
			}
			d.Detail = fmt.Sprintf("An argument named %q is not expected here.%s Remove it, or correct its spelling.", name, hint)
		case "Unsupported block type":
			m := unsupportedBlock.FindStringSubmatch(d.Detail)
			if m == nil {
				continue
			}
			name, err := strconv.Unquote(m[1])
			if err != nil {
				continue
			}
			var names []string
			for _, b := range schema.Blocks {
				names = append(names, b.Type)
			}
			hint := didYouMean(name, names)
			if hint == "" {
				for _, a := range schema.Attributes {
					if a.Name == name {
						hint = fmt.Sprintf(" Did you mean to define argument %q? If so, use the equals sign to assign it a value.", name)
					}
				}
			}
			d.Detail = fmt.Sprintf("Blocks of type %q are not expected here.%s Remove it, or correct its spelling.", name, hint)
		}
	}
	return diags
}
