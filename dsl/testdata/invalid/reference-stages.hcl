# Each block may only refer to what is known when it is read: the plan and
# variable blocks to nothing, locals to variables and locals, docker blocks
# to those too, nginx blocks also to docker blocks, for_each not to steps.

variable "name" {
  default = "x"
}

plan {
  name = var.name # error: References not allowed here
}

variable "desc" {
  default     = "d"
  description = local.d # error: References not allowed here
}

locals {
  d        = "d"
  upstream = nginx.proxy.upstream # error: Reference not allowed in locals
}

docker "local" {
  host = docker.other.host # error: Reference not allowed in a docker block
}

docker "other" {}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = nginx.other.upstream # error: Reference not allowed in an nginx block
}
