# A plan split over two files: names are unique across the folder.

step "deploy" "app" {
  container = "app"
  image     = "example/app"
}

variable "version" {
  default = "v1"
}
