# A rollout's gate phase takes the gate step type's attributes, and the
# gate type's own errors point into the phase block.

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

rollout "typo" {
  nginx   = nginx.proxy
  targets = ["app1", "app2", "app3"]
  server  = "${target}:3000"
  deploy {
    image = "example/app:v2"
  }
  health_check {
    docker {}
  }
  gate {
    url           = "http://127.0.0.1:8080/"
    duration      = "10s"
    max_failurse  = 3 # error: Unsupported argument; detail: Did you mean "max_failures"?
  }
}

rollout "no_url" {
  nginx   = nginx.proxy
  targets = ["app1"]
  server  = "${target}:3000"
  deploy {
    image = "example/app:v2"
  }
  health_check {
    docker {}
  }
  gate { # error: Missing required argument "url"
    duration = "10s"
  }
}

rollout "per_target" {
  nginx   = nginx.proxy
  targets = ["app1"]
  server  = "${target}:3000"
  deploy {
    image = "example/app:v2"
  }
  health_check {
    docker {}
  }
  gate {
    url      = "http://${target}:3000/" # error: Reference to "target" in a rollout's gate
    duration = "10s"
  }
}

rollout "twice" {
  nginx   = nginx.proxy
  targets = ["app1"]
  server  = "${target}:3000"
  deploy {
    image = "example/app:v2"
  }
  health_check {
    docker {}
  }
  gate {
    url      = "http://127.0.0.1:8080/"
    duration = "10s"
  }
  gate { # error: Duplicate block
    url      = "http://127.0.0.1:8080/"
    duration = "10s"
  }
}
