# A sensitive variable given a value of the wrong type, from every source:
# one error each, and no false "no value was given" after it.
#
# option: -var-file sensitive-wrong-type.vars
# option: -var pin=not-a-number
# option: -env PLAN_VAR_code="still-not-a-number"
#
# error(no range): Invalid value for variable; detail: The value is not a valid value for var.pin
# error(no range): Invalid value for variable; detail: environment variable PLAN_VAR_code

variable "port" {
  type      = number
  sensitive = true
}

variable "pin" {
  type      = number
  sensitive = true
}

variable "code" {
  type      = number
  sensitive = true
}

step "deploy" "app" {
  container = "app"
  image     = "example/app:${var.port}${var.pin}${var.code}"
}
