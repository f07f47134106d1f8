project = "blog"

variable "port" {
  default = 8000
}

app "web" {
  command   = "./web --port ${var.port}"
  exec_mode = "cluster"
  balance   = "kernel"
  port      = var.port
}
