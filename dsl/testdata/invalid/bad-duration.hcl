# Durations need a unit, and may not be negative.

nginx "proxy" {
  container     = "nginx"
  config        = "nginx.conf"
  upstream      = "apps"
  drain_timeout = "1h30x" # error: Invalid duration
}

step "drain" "app" {
  nginx         = nginx.proxy
  server        = "app:3000"
  drain_timeout = "30" # error: Invalid duration; detail: "30" is not a duration
  timeout       = "forever" # error: Invalid duration
}

step "health_check" "app" {
  container = "app"
  interval  = "5 s" # error: Invalid duration
  timeout   = "-1s" # error: Invalid duration
  tcp {
    port    = 80
    timeout = 2 # error: Invalid duration
  }
}

rollout "apps" {
  nginx   = nginx.proxy
  targets = ["a", "b"]
  server  = "${target}:3000"
  deploy {
    image   = "example/app"
    timeout = "soon" # error: Invalid duration
  }
  health_check {
    docker {}
    start_period = "1 minute" # error: Invalid duration
  }
}
