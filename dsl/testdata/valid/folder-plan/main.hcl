# A plan split over several files: the folder is the plan. Files are read
# in name order, but references resolve whatever file declares them.

plan {
  name        = "folder-plan"
  description = "One plan, four files"
}

nginx "proxy" {
  container = var.nginx_container
  config    = "proxy/nginx.conf"
  upstream  = "apps"
}
