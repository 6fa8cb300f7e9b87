# A misspelt step type is reported on its label, with a suggestion; one that
# is nothing like a known type lists them all.

step "deplyo" "app" { # error: Unknown step type; detail: Did you mean "deploy"?
  container = "app"
  image     = "example/app"
}

step "frobnicate" "app" { # error: Unknown step type; detail: The step types are: deploy, drain, gate, health_check, restore, switch, weight.
}

step "health_check" "app" {
  container = step.deplyo.app.container # error: Reference to undeclared step type; detail: Did you mean "deploy"?
  docker {}
}
