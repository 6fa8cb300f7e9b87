# Two steps that wait for each other. The cycle is reported once, naming
# both, at the depends_on that closes it.

step "deploy" "a" {
  container  = "a"
  image      = "example/a"
  depends_on = [step.deploy.b]
}

step "deploy" "b" {
  container  = "b"
  image      = "example/b"
  depends_on = [step.deploy.a] # error: Dependency cycle; detail: step.deploy.a → step.deploy.b → step.deploy.a
}
