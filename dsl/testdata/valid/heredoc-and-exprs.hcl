# Heredocs, conditionals, for expressions and splats in step bodies.

variable "canary" {
  type    = bool
  default = false
}

locals {
  servers = [for n in [1, 2] : { name = "app${n}", port = 3000 + n }]
  names   = local.servers[*].name
}

step "deploy" "app" {
  container = local.names[0]
  image     = var.canary ? "example/app:canary" : "example/app:stable"
  env = {
    BANNER = <<-EOT
      hello
      world
    EOT
    NAMES  = join(" ", local.names)
    PORTS  = join(",", [for s in local.servers : tostring(s.port)])
  }
}
