# A blue_green: two colours of two targets, a gate after the cut-over,
# the deploys of a colour one at a time (parallelism = 1).

docker "local" {
  compose_project = "shop"
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "health_check" "db" {
  container = "db"
  tcp {
    port = 5432
  }
}

blue_green "web" {
  nginx         = nginx.proxy
  parallelism   = 1
  keep_previous = false
  depends_on    = [step.health_check.db]

  blue {
    targets = ["app1-blue", "app2-blue"]
    server  = "${target}:3000"
  }

  green {
    targets   = ["app1-green", "app2-green"]
    server    = "${target}:3000"
    container = "${target}"
  }

  deploy {
    image = "shop:v2"
    env   = { MESSAGE = "${target},v2" }
  }

  health_check {
    http {
      port        = 3000
      expect_body = "${target},v2"
    }
    interval = "200ms"
    timeout  = "30s"
  }

  gate {
    url      = "http://127.0.0.1:8080/"
    duration = "5s"
  }
}

step "health_check" "after" {
  container = "app1-green"
  tcp {
    port = 3000
  }
  depends_on = [blue_green.web]
}
