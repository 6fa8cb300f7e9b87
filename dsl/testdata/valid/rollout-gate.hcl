# A rollout with a gate phase: after every batch is restored, one gate step
# sends probe traffic through the load balancer; the next batch's drains
# wait for it, so a bad batch stops the rollout before the next one.

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "deploy" "migrations" {
  container = "migrate"
  image     = "example/migrate:v2"
}

rollout "apps" {
  nginx      = nginx.proxy
  targets    = ["app1", "app2", "app3", "app4", "app5"]
  batch_size = 2
  server     = "${target}:3000"
  depends_on = [step.deploy.migrations]

  deploy {
    image = "example/app:v2"
  }

  health_check {
    docker {}
  }

  gate {
    url            = "http://127.0.0.1:8080/"
    duration       = "10s"
    rate           = 20
    max_error_rate = 0.01
    max_p99        = "300ms"
    timeout        = "1m"
  }
}

# One target at a time: each gate waits for the one restore of its batch.
rollout "single" {
  nginx   = nginx.proxy
  targets = ["s1", "s2"]
  server  = "${target}:3000"

  deploy {
    image = "example/app:v2"
  }

  health_check {
    docker {}
  }

  gate {
    url      = "http://127.0.0.1:8080/"
    duration = "5s"
  }
}

step "restore" "after_gate" {
  nginx      = nginx.proxy
  server     = "late:3000"
  depends_on = [rollout.apps.gate[3]]
}
