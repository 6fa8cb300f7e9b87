# Validation blocks on variables, as in Terraform: checked against the
# final value, whichever source gave it.
#
# option: -var-file variable-validation.vars
# option: -var replicas=0
# option: -env PLAN_VAR_tag=latest

variable "version" {
  type    = string
  default = "v2"
  validation {
    condition     = length(var.version) > 0 && substr(var.version, 0, 1) == "v"
    error_message = "version must start with v."
  }
}

variable "replicas" {
  type    = number
  default = 2
  validation {
    condition     = var.replicas >= 1 # error: Invalid value for variable; detail: at least one replica
    error_message = "There must be at least one replica."
  }
}

variable "tag" {
  type = string
  validation {
    condition     = var.tag != "latest" # error: Invalid value for variable; detail: from environment variable PLAN_VAR_tag
    error_message = "Pin a tag, not latest."
  }
}

variable "region" {
  type    = string
  default = "eu"
  validation {
    condition     = contains(["eu", "us"], var.region) # error: Invalid value for variable; detail: Use eu or us.
    error_message = "Use eu or us."
  }
}

variable "name" {
  default = "x"
  validation {
    condition     = var.version != "" # error: Invalid reference in variable validation; detail: var.name
    error_message = "no"
  }
  validation {
    condition = "maybe" # error: Invalid validation condition
    error_message = "no"
  }
  validation { # error: Missing required argument
    condition = true
  }
}

step "deploy" "app" {
  container = "app${var.replicas}${var.tag}${var.region}${var.name}"
  image     = "example/app:${var.version}"
}
