variable "version" {
  type    = string
  default = "v2"
}

variable "nginx_container" {
  type    = string
  default = "nginx"
}

locals {
  image = "example/app:${var.version}"
}
