# A blue_green whose deploy phase reads a value from another step: its
# deploys wait for that step, as a rollout's phases do.

nginx "proxy" {
  container = "nginx"
  config    = "/etc/nginx/nginx.conf"
  upstream  = "apps"
}

step "deploy" "worker" {
  container = "worker"
  image     = "shop:v2"
}

blue_green "web" {
  nginx = nginx.proxy
  blue {
    targets = ["b1"]
    server  = "${target}:3000"
  }
  green {
    targets = ["g1"]
    server  = "${target}:3000"
  }
  deploy {
    image = step.deploy.worker.image
  }
  health_check {
    tcp {
      port = 3000
    }
  }
}
