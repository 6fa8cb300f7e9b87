# Values of the wrong type or out of range point at the value.

plan {
  on_failure = "rollbak" # error: Invalid value for "on_failure"; detail: Did you mean "rollback"?
}

variable "count" {
  type    = number
  default = "many" # error: Invalid default value for variable
}

variable "flag" {
  type      = bool
  default   = true
  sensitive = "yes" # error: Incorrect attribute value type
}

variable "typo" {
  type = strng # error: Invalid type specification
}

step "deploy" "app" {
  container = "app"
  image     = "example/app with spaces" # error: Invalid image reference
  env       = "MESSAGE=hi" # error: Incorrect attribute value type; detail: a map of strings
  pull      = "sometimes" # error: Invalid value for "pull"
}

step "deploy" "env" {
  container = ["a", "b"] # error: Incorrect attribute value type
  image     = "example/app"
  env       = { "A=B" = "x" } # error: Invalid environment variable name
}

step "health_check" "app" {
  container         = "app"
  healthy_threshold = 0 # error: Invalid value for "healthy_threshold"; detail: from 1 to 1000
  http {
    port          = "http" # error: Incorrect attribute value type
    path          = "healthz" # error: Invalid path
    method        = "PUT" # error: Invalid value for "method"
    expect_status = 700 # error: Invalid value for "expect_status"
  }
}

step "health_check" "tcp" {
  container = "db"
  interval  = 5 # error: Invalid duration
  tcp {
    port = 70000 # error: Invalid value for "port"
  }
}

step "health_check" "exec" {
  container = "app"
  exec {
    command = "ls -l" # error: Incorrect attribute value type; detail: a list of strings
  }
}

step "health_check" "empty" {
  container = "app"
  exec {
    command = [] # error: Empty command
  }
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = ["a"]
  server     = "${target}:3000"
  batch_size = 0 # error: Invalid value for "batch_size"
}
