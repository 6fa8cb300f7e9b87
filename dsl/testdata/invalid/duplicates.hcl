# Every name is declared once; the second declaration is reported.

plan {
  name = "dup"
}

plan { # error: Duplicate block plan
  name = "dup-again"
}

variable "version" {
  default = "v2"
}

variable "version" { # error: Duplicate variable "version"
  default = "v3"
}

locals {
  apps = ["a"]
}

locals {
  apps = ["b"] # error: Duplicate local value apps
}

docker "local" {}
docker "local" {} # error: Duplicate docker "local"

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

nginx "proxy" { # error: Duplicate nginx "proxy"
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "deploy" "app" {
  container = "app"
  image     = "example/app"
}

step "deploy" "app" { # error: Duplicate step "deploy" "app"
  container = "app"
  image     = "example/app"
}

rollout "apps" {
  nginx   = nginx.proxy
  targets = ["a", "b", "a"] # error: Duplicate rollout target
  server  = "${target}:3000"
  deploy {
    image = "example/app"
  }
  deploy { # error: Duplicate block deploy
    image = "example/app"
  }
  health_check {
    docker {}
  }
}

rollout "apps" { # error: Duplicate rollout "apps"
  nginx   = nginx.proxy
  targets = ["c"]
  server  = "${target}:3000"
}
