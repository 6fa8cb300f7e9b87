# An unclosed block is reported at its opening brace.

step "deploy" "app" { # error: Unclosed configuration block
  container = "app"
  image     = "example/app"
