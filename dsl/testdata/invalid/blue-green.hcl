# Misuses of blue_green: every one is an error at the token to fix.

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

nginx "dynamic" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
  mode      = "dynamic"
}

blue_green "sizes" {
  nginx = nginx.proxy
  blue {
    targets = ["a1", "a2"]
    server  = "${target}:80"
  }
  green {
    targets = ["b1"] # error: Colours of different sizes; detail: blue has 2 targets and green has 1
    server  = "${target}:80"
  }
  deploy {
    image = "app:v2"
  }
  health_check {
    tcp {
      port = 80
    }
  }
}

blue_green "shared_server" {
  nginx = nginx.proxy
  blue {
    targets = ["a1"]
    server  = "app:80"
  }
  green {
    targets = ["b1"]
    server  = "app:80" # error: Server in both colours; detail: Server "app:80" is blue's
  }
  deploy {
    image = "app:v2"
  }
  health_check {
    tcp {
      port = 80
    }
  }
}

blue_green "shared_target" {
  nginx = nginx.proxy
  blue {
    targets = ["a1"]
    server  = "${target}-blue:80"
  }
  green {
    targets = ["a1"] # error: Target in both colours
    server  = "${target}-green:80"
  }
  deploy {
    image = "app:v2"
  }
  health_check {
    tcp {
      port = 80
    }
  }
}

blue_green "no_phases" { # error: Missing blocks; detail: Add a deploy block
  nginx = nginx.proxy
  blue {
    targets = ["a1"]
    server  = "${target}:80"
  }
  green {
    targets = ["b1"]
    server  = "${target}:80"
  }
}

blue_green "no_green" { # error: Missing green block
  nginx = nginx.proxy
  blue {
    targets = ["a1"]
    server  = "${target}:80"
  }
  deploy {
    image = "app:v2"
  }
  health_check {
    tcp {
      port = 80
    }
  }
}

blue_green "backup_dynamic" {
  nginx = nginx.dynamic
  idle  = "backup" # error: idle = "backup" needs mode = "reload"; detail: nginx.dynamic has mode = "dynamic"
  blue {
    targets = ["a1"]
    server  = "${target}:80"
  }
  green {
    targets = ["b1"]
    server  = "${target}:80"
  }
  deploy {
    image = "app:v2"
  }
  health_check {
    tcp {
      port = 80
    }
  }
}

blue_green "bad_idle" {
  nginx       = nginx.proxy
  idle        = "off" # error: Invalid value for "idle"
  parallelism = 0     # error: Invalid value for "parallelism"
  blue {
    targets = ["a1"]
    server  = "${target}:80"
  }
  green {
    targets = ["b1"]
    server  = "${target}:80"
  }
  deploy {
    image = "app:v2"
  }
  health_check {
    tcp {
      port = 80
    }
  }
}

blue_green "bad_colour" {
  nginx = nginx.proxy
  blue {
    targets = []   # error: Empty rollout
    server  = "${target}:80"
  }
  green {
    targets = ["b1"]
    server  = "${target}:80"
  }
  deploy {
    image = "app:v2"
  }
  health_check {
    tcp {
      port = 80
    }
  }
}

blue_green "via_nginx" {
  nginx = nginx.proxy
  blue {
    targets = ["a1"]
    server  = "${target}:80"
  }
  green {
    targets = ["b1"]
    server  = "${target}:80"
  }
  deploy {
    image = "app:v2"
  }
  health_check {
    http {
      port      = 80
      via_nginx = true # error: Health check through nginx in a blue_green
    }
  }
}
