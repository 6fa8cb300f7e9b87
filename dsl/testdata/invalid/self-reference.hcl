# A step cannot use its own attributes.

step "deploy" "app" {
  container = "app"
  image     = step.deploy.app.image # error: Self-referential step
}
