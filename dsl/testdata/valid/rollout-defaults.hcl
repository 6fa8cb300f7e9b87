# The smallest rollout: every phase from the rollout's own attributes,
# health checked by the container's HEALTHCHECK.

nginx "proxy" {
  pid_file = "/run/nginx.pid"
  config   = "/etc/nginx/nginx.conf"
  upstream = "apps"
}

rollout "web" {
  nginx   = nginx.proxy
  targets = toset(["web2", "web1"])
  server  = "${target}.internal:80"
  deploy {
    image = "example/web:${upper("v")}2"
  }
  health_check {
    docker {}
  }
}

rollout "workers" {
  nginx      = nginx.proxy
  targets    = ["w1"]
  batch_size = 4
  server     = "${target}:9000"
  deploy {
    image = "example/worker:v2"
  }
  health_check {
    exec {
      command = ["/bin/check", target]
    }
  }
  depends_on = [rollout.web]
}
