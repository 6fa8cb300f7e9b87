# target exists only inside a rollout block.

locals {
  server = "${target}:3000" # error: Reference to "target" outside a rollout
}

step "deploy" "app" {
  container = target # error: Reference to "target" outside a rollout
  image     = "example/app"
}
