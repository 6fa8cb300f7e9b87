# for_each over a map: each.key is the key, each.value the element.

variable "services" {
  type = map(object({
    port  = number
    image = string
  }))
  default = {
    api = { port = 8080, image = "example/api:v2" }
    web = { port = 3000, image = "example/web:v2" }
  }
}

nginx "proxy" {
  pid_file = "/run/nginx.pid"
  config   = "/etc/nginx/nginx.conf"
  upstream = "backend"
}

step "drain" "svc" {
  for_each = var.services
  nginx    = nginx.proxy
  server   = "${each.key}:${each.value.port}"
}

step "deploy" "svc" {
  for_each   = var.services
  container  = each.key
  image      = each.value.image
  depends_on = [step.drain.svc[each.key]]
}

step "health_check" "svc" {
  for_each  = var.services
  container = each.key
  tcp {
    port = each.value.port
  }
  depends_on = [step.deploy.svc[each.key]]
}

# Literal keys: the web restore waits for the api restore too.
step "restore" "svc" {
  for_each   = { api = "api:8080", web = "web:3000" }
  nginx      = nginx.proxy
  server     = each.value
  depends_on = [step.health_check.svc[each.key]]
}

step "deploy" "after_api" {
  container  = "sidecar"
  image      = "example/sidecar:v2"
  depends_on = [step.restore.svc["api"], step.restore.svc["web"]]
}
