# Every way HCL lets a reference be written is the same dependency: an
# attribute as an index, a step name as an index, a for_each key as an
# index, with or without a further attribute.

step "deploy" "base" {
  container = "base"
  image     = "example/base:v2"
  env       = { TIER = "base" }
}

step "deploy" "attr_index" {
  container = "attr-index"
  image     = step.deploy.base["image"]
}

step "deploy" "name_index" {
  container = "name-index"
  image     = step.deploy["base"].image
}

step "deploy" "all_index" {
  container = "all-index"
  image     = step["deploy"]["base"]["image"]
  env       = { TIER = step.deploy.base.env["TIER"] }
}

step "deploy" "computed_index" {
  container = "computed-index"
  image     = step.deploy.base[lower("IMAGE")]
}

step "deploy" "pair" {
  for_each  = toset(["a", "b"])
  container = "pair-${each.key}"
  image     = "example/${each.key}:v2"
}

step "health_check" "pair_index" {
  container = step.deploy.pair["a"]["container"]
  tcp {
    port = 80
  }
}

step "health_check" "listed" {
  container  = "listed"
  depends_on = [step["deploy"]["name_index"], step.deploy["pair"]["b"]]
  tcp {
    port = 80
  }
}
