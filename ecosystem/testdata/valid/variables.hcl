# options: --var port=4000 --var names=["a","b"]
variable "port" {
  type        = number
  default     = 3000
  description = "Public port."
}

variable "workers" {
  # From ECO_VAR_workers in the environment.
  type = number
}

variable "names" {
  type    = list(string)
  default = []
}

variable "region" {
  default = "eu"
}

locals {
  # Locals may refer to each other in any order.
  env  = merge(local.base, { REGION = upper(var.region) })
  base = { USER = env("DEPLOY_USER"), MISSING = env("NOPE", "fallback"), GREETING = trimspace(file("greeting.txt")) }
}

app "web" {
  script    = "web.js"
  exec_mode = "cluster"
  port      = var.port
  instances = cpus() - 1
  env       = merge(local.env, { NAMES = join(",", var.names) })
}

app "worker" {
  command   = ["./worker", format("--id=%s", var.region)]
  instances = var.workers
}
