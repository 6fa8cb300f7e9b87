# A syntax error stops decoding: only the syntax is reported.

step "deploy" "app" {
  container = "app"
  image     = = "example/app" # error: Invalid expression
}

step "deploy" "undeclared" {
  container = var.nothing
  image     = "example/app"
}
