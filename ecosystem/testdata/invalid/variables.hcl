# options: --var prot=1 --var count=lots
# error@none: Undeclared variable | error@none: Invalid value for variable
variable "port" { # error: Missing value for variable
  type = number
}

variable "count" {
  type = number
}

variable "port" { # error: Duplicate variable
  default = 1
}

variable "typed" {
  type    = number
  default = "abc" # error: Invalid default value for variable
}

locals {
  a = local.b # error: Cycle in local values
  b = local.a
  c = var.nope # error: Unsupported attribute
}

app "a" {
  script    = "a.js"
  port      = var.port
  instances = var.count
  env       = { X = local.c, Y = nosuchfunc(1) } # error: Call to unknown function
}
