# Every health-check kind: http, tcp, docker, exec.

step "health_check" "web_http" {
  container = "web"
  http {
    port = 8080
  }
}

step "health_check" "web_post" {
  container = "web"
  http {
    port          = 8080
    path          = "/ready"
    method        = "POST"
    expect_status = 202
  }
}

step "health_check" "db_tcp" {
  container = "db"
  tcp {
    port    = 5432
    network = "backend"
    timeout = "3s"
  }
  interval = "2s"
}

step "health_check" "worker_docker" {
  container = "worker"
  docker {}
  start_period = "30s"
}

step "health_check" "cache_exec" {
  container = "cache"
  exec {
    command = ["redis-cli", "ping"]
  }
  healthy_threshold = 2
  depends_on        = [step.health_check.db_tcp]
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

# Through the load balancer rather than to the container.
step "health_check" "web_via_nginx" {
  container = "web"
  nginx     = nginx.proxy
  http {
    port        = 80
    path        = "/"
    expect_body = "web"
    via_nginx   = true
  }
  depends_on = [step.health_check.web_http]
}
