step "deploy" "app" { # error: Duplicate step "deploy" "app"; detail: a.hcl:3
  container = "app"
  image     = "example/app:${var.verson}" # error: Reference to undeclared input variable
}

variable "version" { # error: Duplicate variable "version"
  default = "v2"
}
