# A missing required argument points at the header of the block that needs
# it, nested blocks included.

nginx "proxy" { # error: Missing required argument "upstream"
  container = "nginx"
  config    = "nginx.conf"
}

step "deploy" "app" { # error: Missing required argument "image"; detail: Add `image = ...`
  container = "app"
}

step "drain" "app" { # error: Missing required argument "nginx" # error: Missing required argument "server"
}

step "health_check" "web" {
  container = "web"
  http { # error: Missing required argument "port"
    path = "/"
  }
}

step "health_check" "cmd" {
  container = "cmd"
  exec { # error: Missing required argument "command"
  }
}

rollout "apps" { # error: Missing required argument "server"
  nginx   = nginx.proxy
  targets = ["a"]
}
