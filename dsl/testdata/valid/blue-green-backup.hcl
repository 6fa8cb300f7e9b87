# A blue_green whose idle colour is kept as nginx `backup` servers rather
# than marked down: nginx falls back to it if every live server fails.

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

blue_green "web" {
  nginx = nginx.proxy
  idle  = "backup"

  blue {
    targets = ["app1-blue", "app2-blue"]
    server  = "${target}:3000"
  }

  green {
    targets = ["app1-green", "app2-green"]
    server  = "${target}:3000"
  }

  deploy {
    image = "shop:v2"
  }

  health_check {
    http {
      port = 3000
    }
  }
}
