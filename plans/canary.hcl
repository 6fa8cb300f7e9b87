# A canary over the seed's two apps: app2 gets the new version first and
# only a tenth of the traffic while a gate judges it through nginx; then
# half the traffic, judged again; then app1 follows as in a rolling update.
# weight -> gate -> weight -> gate -> full rollout: a gate that sees more
# failed requests than its budget rolls everything back, weights included.
#
#   plan apply -var gate_url=http://127.0.0.1:8080/ plans/canary.hcl

plan {
  name        = "canary"
  description = "app2 on v2 with 10% of traffic, watched, then everything on v2"
}

variable "version" {
  type    = string
  default = "v2"
}

variable "image" {
  type    = string
  default = "bithavoc/hello-world-env"
}

variable "compose_project" {
  type    = string
  default = "docker-non-stop-deploy"
}

# Where the gates send their probes: nginx's listener, on this machine.
variable "gate_url" {
  type    = string
  default = "http://127.0.0.1/"
}

variable "nginx_container" {
  type    = string
  default = "nginx"
}

docker "local" {
  compose_project = var.compose_project
}

nginx "proxy" {
  container = var.nginx_container
  config    = "proxy/nginx.conf"
  upstream  = "apps"
}

# --- the canary: app2 on the new version, with a small share ---------------

step "drain" "app2" {
  nginx  = nginx.proxy
  server = "app2:3000"
}

step "deploy" "app2" {
  container  = "app2"
  image      = var.image
  env        = { MESSAGE = "app2,${var.version}" }
  depends_on = [step.drain.app2]
}

step "health_check" "app2" {
  container = "app2"
  http {
    port        = 3000
    expect_body = "app2,${var.version}"
  }
  interval          = "200ms"
  healthy_threshold = 2
  timeout           = "30s"
  depends_on        = [step.deploy.app2]
}

# app1 weighs 9 before app2 comes back: app2 gets 1 request in 10.
step "weight" "app1_major" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  weight     = 9
  depends_on = [step.health_check.app2]
}

step "restore" "app2" {
  nginx      = nginx.proxy
  server     = "app2:3000"
  depends_on = [step.weight.app1_major]
}

# Judge the canary on the traffic it serves: 10 s of probes through nginx,
# no failed request, p99 under 1 s.
step "gate" "canary_10" {
  url        = var.gate_url
  duration   = "10s"
  rate       = 50
  max_p99    = "1s"
  depends_on = [step.restore.app2]
}

# Half the traffic to app2, judged again.
step "weight" "app1_even" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  weight     = 1
  depends_on = [step.gate.canary_10]
}

step "gate" "canary_50" {
  url        = var.gate_url
  duration   = "10s"
  rate       = 50
  max_p99    = "1s"
  depends_on = [step.weight.app1_even]
}

# --- then app1, as in the rolling update ------------------------------------

step "drain" "app1" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  depends_on = [step.gate.canary_50]
}

step "deploy" "app1" {
  container  = "app1"
  image      = var.image
  env        = { MESSAGE = "app1,${var.version}" }
  depends_on = [step.drain.app1]
}

step "health_check" "app1" {
  container = "app1"
  http {
    port        = 3000
    expect_body = "app1,${var.version}"
  }
  interval          = "200ms"
  healthy_threshold = 2
  timeout           = "30s"
  depends_on        = [step.deploy.app1]
}

step "restore" "app1" {
  nginx      = nginx.proxy
  server     = "app1:3000"
  depends_on = [step.health_check.app1]
}
