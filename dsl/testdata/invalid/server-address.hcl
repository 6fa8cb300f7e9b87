# A server address must be one token of an nginx upstream: no ; { } quotes
# or spaces that could smuggle directives into the config.

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "drain" "semicolon" {
  nginx  = nginx.proxy
  server = "app2:3000; server evil:80" # error: Invalid server address
}

step "restore" "quote" {
  nginx  = nginx.proxy
  server = "app2:3000\"" # error: Invalid server address
}

step "drain" "empty" {
  nginx  = nginx.proxy
  server = "" # error: Invalid server address
}

step "restore" "brace" {
  nginx  = nginx.proxy
  server = "app{1}" # error: Invalid server address
}

rollout "apps" {
  nginx   = nginx.proxy
  targets = ["app 1"]
  server  = "${target}:3000" # error: Invalid server address
  deploy {
    image = "example/app"
  }
  health_check {
    docker {}
  }
}
