// Package cikit holds the tests of Nonstop's CI kit, the GitHub Actions
// workflow users copy from docs/ci/plan.yml: actionlint (pinned, as a
// library) must find nothing in it, and its shell steps are run here, in
// order, against the real plan binary, the way a runner would run them.
//
// The workflow lives under docs/, not under .github/workflows/, on purpose:
// it is a template for the repositories that hold plans, and this
// repository's own CI is .ci/run, which must not depend on GitHub (a
// workflow here would also try to apply a plan on every push to main).
package cikit
