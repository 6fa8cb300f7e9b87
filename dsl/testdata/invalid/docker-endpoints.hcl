# A docker block reaches one engine: by host or by context, with TLS files
# only for a tcp:// host.

docker "both" {
  host    = "unix:///var/run/docker.sock"
  context = "prod" # error: Both host and context
}

docker "scheme" {
  host = "http://10.0.0.1:2375" # error: Invalid engine address; detail: ssh://USER@HOST
}

docker "tls_on_ssh" {
  host    = "ssh://deploy@10.0.0.1"
  ca_file = "ca.pem" # error: TLS settings without a tcp:// host
}

docker "tls_on_context" {
  context    = "prod"
  tls_verify = true # error: TLS settings without a tcp:// host
}

docker "half_pair" {
  host      = "tcp://10.0.0.1:2376"
  cert_file = "cert.pem" # error: Client certificate without its key
}

docker "typo" {
  contxt = "prod" # error: Unsupported argument; detail: Did you mean "context"?
}
