// No plan block, no variables, one step: the smallest plan.
/* Comments in every HCL style. */
step "deploy" "solo" {
  container = "solo"
  image     = "example/solo:latest"
}
