# A rollout rolls a non-empty list of distinct string targets.

variable "secret_targets" {
  default   = ["a"]
  sensitive = true
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

rollout "empty" {
  nginx   = nginx.proxy
  targets = [] # error: Empty rollout
  server  = "${target}:3000"
}

rollout "string" {
  nginx   = nginx.proxy
  targets = "app1" # error: Invalid targets
  server  = "${target}:3000"
}

rollout "nulls" {
  nginx   = nginx.proxy
  targets = ["app1", null] # error: Invalid targets
  server  = "${target}:3000"
}

rollout "secret" {
  nginx   = nginx.proxy
  targets = var.secret_targets # error: Invalid targets; detail: sensitive
  server  = "${target}:3000"
}

rollout "bad nginx" { # error: Invalid rollout name
  nginx   = "proxy"
  targets = ["a"]
  server  = "${target}:3000"
}

rollout "bad_nginx" {
  nginx   = "proxy" # error: Invalid nginx reference
  targets = ["a"]
  server  = "${target}:3000"
}

rollout "deep_nginx" {
  nginx   = nginx.proxy.upstream # error: Invalid nginx reference
  targets = ["a"]
  server  = "${target}:3000"
}

rollout "multi_line" {
  nginx = nginx.proxy
  targets = [
    "app1",
    "app2",
    "app1", # error: Duplicate rollout target; detail: (first on line 59)
    "app3",
  ]
  server = "${target}:3000"
}
