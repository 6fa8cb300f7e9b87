# Durations that parse but make no sense: zero where something must wait or
# poll, and more than a day (a drain_timeout of 2562047h once overflowed
# into a negative deadline). Names that are empty.

nginx "proxy" {
  container     = "" # error: Empty container
  config        = "nginx.conf"
  upstream      = "apps"
  drain_timeout = "0s" # error: Invalid duration; detail: must be more than zero
}

nginx "edge" {
  container     = "edge"
  config        = "nginx.conf"
  upstream      = " " # error: Empty upstream
  drain_timeout = "2562047h" # error: Invalid duration; detail: more than 24h0m0s
}

step "drain" "app" {
  nginx         = nginx.edge
  server        = "app:3000"
  drain_timeout = "9223372036s" # error: Invalid duration; detail: more than 24h0m0s
  timeout       = "0s" # error: Invalid duration; detail: "timeout" must be more than zero
}

step "deploy" "app" {
  container  = "" # error: Empty container
  image      = "example/app"
  depends_on = [step.drain.app]
}

step "health_check" "app" {
  container = "app"
  interval  = "0s" # error: Invalid duration; detail: "interval" must be more than zero
  http {
    port    = 80
    timeout = "0ms" # error: Invalid duration
  }
  depends_on = [step.deploy.app]
}

step "switch" "app" {
  nginx     = nginx.edge
  server    = "app:3000"
  container = "" # error: Empty container
}

rollout "apps" {
  nginx     = nginx.edge
  targets   = ["a", "b"]
  server    = "${target}:3000"
  container = "" # error: Empty container
  deploy {
    image = "example/app"
  }
  health_check {
    docker {}
  }
  restore {
    timeout = "0s" # error: Invalid duration
  }
}
