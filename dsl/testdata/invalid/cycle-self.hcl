# A step that waits for itself.

step "deploy" "a" {
  container  = "a"
  image      = "example/a"
  depends_on = [step.deploy.a] # error: Dependency cycle; detail: step.deploy.a → step.deploy.a
}
