step "deploy" "app" { # error: Duplicate step "deploy" "app"; detail: a.hcl:3
  container = "app"
  # A duplicate is not decoded further: this is not reported.
  image = "example/app:${var.verson}"
}

variable "version" { # error: Duplicate variable "version"
  default = "v2"
}
