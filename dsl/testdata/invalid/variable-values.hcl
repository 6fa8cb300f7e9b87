# Values from outside the plan: for undeclared variables, and of the wrong
# type. -var values have no source range; -var-file values point into the
# file.
#
# option: -var verison=v3
# option: -var port=http
# option: -var-file variable-values.vars
# option: -env PLAN_VAR_undeclared_but_ignored=1
#
# error(no range): Value for undeclared variable; detail: Did you mean "version"?
# error(no range): Invalid value for variable; detail: "http" is not a valid value for var.port

variable "version" {
  default = "v2"
}

variable "port" {
  type    = number
  default = 3000
}

variable "apps" {
  type    = list(string)
  default = []
}

step "deploy" "app" {
  container = "app"
  image     = "example/app:${var.version}"
}
