# A bootstrap file: the apps are in the repository.
source "git" {
  url         = "https://example.com/acme/shop.git"
  ref         = "main"
  path        = "deploy/ecosystem.hcl"
  interval    = "30s"
  self_heal   = false
  token_file  = "/etc/eco/token"
  verify_keys = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
}
