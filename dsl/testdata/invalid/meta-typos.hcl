# A typo of a meta-argument gets a suggestion, as a typo of any other
# argument does, by the tool's one threshold.

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "drain" "app" {
  nginx  = nginx.proxy
  server = "app:3000"
  timout = "30s" # error: Unsupported argument; detail: Did you mean "timeout"?
}

step "deploy" "app" {
  container = "app"
  image     = "example/app"
  dependson = [step.drain.app] # error: Unsupported argument; detail: Did you mean "depends_on"?
  foreach   = toset(["a"]) # error: Unsupported argument; detail: Did you mean "for_each"?
  pul       = "always" # error: Unsupported argument; detail: Did you mean "pull"?
}

step "health_check" "app" {
  container = "app"
  htp { # error: Unsupported block type; detail: Did you mean "http"?
    port = 80
  }
  tcp {
    port       = 80
    depends_on = [] # error: Unsupported argument; detail: is not expected here. Remove it
  }
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = ["a", "b"]
  server     = "${target}:3000"
  dependson  = [] # error: Unsupported argument; detail: Did you mean "depends_on"?
}

rollout "more" {
  nginx   = nginx.proxy
  targets = ["c"]
  server  = "${target}:3000"
  deploy {
    image  = "example/app"
    timout = "1m" # error: Unsupported argument; detail: Did you mean "timeout"?
  }
  health_check {
    docker {}
  }
}
