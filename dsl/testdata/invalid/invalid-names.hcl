# Names that could not be referenced.

variable "my version" { # error: Invalid variable name
  default = "v2"
}

step "deploy" "1app" { # error: Invalid step name
  container = "app"
  image     = "example/app"
}
