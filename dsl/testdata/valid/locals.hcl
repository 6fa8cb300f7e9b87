# Locals that refer to other locals (in any order, across blocks), and the
# usual functions.

locals {
  service = "app2"
  # Refers to a local declared in the next block.
  upper_name = upper(local.base)
  tags       = toset(["blue", "green", "blue"])
}

locals {
  base    = format("%s-%s", local.service, "svc")
  image   = lower("Example/App")
  env     = merge({ A = "1" }, { B = local.upper_name }, local.more_env)
  payload = jsonencode({ name = local.service, tags = sort(local.tags) })
  servers = formatlist("%s:3000", ["app1", "app2"])
  ports   = { for s in ["app1", "app2"] : s => 3000 + index(["app1", "app2"], s) }
  first   = element(local.servers, 0)
  trimmed = trimspace("  padded  ")
  joined  = join(",", concat(["x"], ["y", "z"]))
  count   = length(keys(local.ports)) + max(1, 2) + tonumber("3")
  # length of a string, as in Terraform: characters, not bytes.
  name_len = length("café") + length(local.service)
  pieces  = split(":", local.first)
  host    = lookup({ app2 = "app2" }, local.service, "fallback")
  replaced = replace("a-b-c", "-", "_")
  title   = title("hello world")
  coalesced = coalesce("", "second")
  has_a   = contains(["a", "b"], "a")
  flat    = flatten([["a"], ["b", "c"]])
  uniq    = distinct(["a", "a", "b"])
  zipped  = zipmap(["k1", "k2"], ["v1", "v2"])
  sub     = substr("abcdef", 1, 3)
  regexed = regex_replace("app-12", "[0-9]+", "N")
  nums    = range(3)
  decoded = jsondecode("{\"a\": 1}")
  more_env = { PAYLOAD = local.payload }
}

nginx "proxy" {
  container = "nginx"
  config    = "nginx.conf"
  upstream  = "apps"
}

step "drain" "app2" {
  nginx  = nginx.proxy
  server = local.first
}

step "deploy" "app2" {
  container = local.host
  image     = local.image
  env = merge(local.env, local.zipped, {
    JOINED  = local.joined
    COUNT   = tostring(local.count)
    PORT    = local.pieces[1]
    TITLE   = local.title
    REPL    = local.replaced
    COAL    = local.coalesced
    HAS_A   = tostring(local.has_a)
    FLAT    = join("", local.flat)
    UNIQ    = join("", local.uniq)
    SUB     = local.sub
    REGEX   = local.regexed
    NUMS    = jsonencode(local.nums)
    DECODED = tostring(local.decoded.a)
    TRIMMED = local.trimmed
    P2      = tostring(local.ports["app2"])
  })
  depends_on = [step.drain.app2]
}

# A validation that holds passes silently.
variable "tier" {
  type    = string
  default = "web"
  validation {
    condition     = length(var.tier) > 0 && contains(["web", "worker"], var.tier)
    error_message = "tier is web or worker."
  }
}
