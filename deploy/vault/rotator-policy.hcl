# The cred-rotator worker's Vault policy for examples/rotator.yaml: least privilege, nothing may be listed
# or deleted. Made by `rotator vault policy`: make it again whenever the inventory changes.

# The worker's own token: the readiness check looks it up, the worker renews it and revokes it at shutdown.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# providers.gitlab.gitlab-main.credential: read-only
path "kv-rotator/data/providers/gitlab-main" {
  capabilities = ["read"]
}

# providers.gitlab.gitlab-main.fallbackCredential: read-only
path "kv-rotator/data/providers/gitlab-main-fallback" {
  capabilities = ["read"]
}

# providers.github.github-com.credential: read-only
path "kv-rotator/data/providers/github-com" {
  capabilities = ["read"]
}

# deployer-production: current value (detect, promote, rollback)
path "kv-production/data/gitlab/deployer" {
  capabilities = ["create", "read", "update"]
}

# deployer-production: new value staged until promoted (issue, verify, distribute)
path "kv-production/data/gitlab/deployer/staged" {
  capabilities = ["create", "read", "update"]
}

# deployer-production: when it was last rotated (metrics)
path "kv-production/metadata/gitlab/deployer" {
  capabilities = ["read"]
}

# release-bot-production: current value (detect, promote, rollback)
path "kv-production/data/gitlab/release-bot" {
  capabilities = ["create", "read", "update"]
}

# release-bot-production: new value staged until promoted (issue, verify, distribute)
path "kv-production/data/gitlab/release-bot/staged" {
  capabilities = ["create", "read", "update"]
}

# release-bot-production: when it was last rotated (metrics)
path "kv-production/metadata/gitlab/release-bot" {
  capabilities = ["read"]
}

# mirror-staging: current value (detect, promote, rollback)
path "kv-staging/data/gitlab/mirror" {
  capabilities = ["create", "read", "update"]
}

# mirror-staging: new value staged until promoted (issue, verify, distribute)
path "kv-staging/data/gitlab/mirror/staged" {
  capabilities = ["create", "read", "update"]
}

# mirror-staging: when it was last rotated (metrics)
path "kv-staging/metadata/gitlab/mirror" {
  capabilities = ["read"]
}

# registry-pull-production: current value (detect, promote, rollback)
path "kv-production/data/gitlab/registry-pull" {
  capabilities = ["create", "read", "update"]
}

# registry-pull-production: new value staged until promoted (issue, verify, distribute)
path "kv-production/data/gitlab/registry-pull/staged" {
  capabilities = ["create", "read", "update"]
}

# registry-pull-production: when it was last rotated (metrics)
path "kv-production/metadata/gitlab/registry-pull" {
  capabilities = ["read"]
}

# packages-read-staging: current value (detect, promote, rollback)
path "kv-staging/data/gitlab/packages-read" {
  capabilities = ["create", "read", "update"]
}

# packages-read-staging: new value staged until promoted (issue, verify, distribute)
path "kv-staging/data/gitlab/packages-read/staged" {
  capabilities = ["create", "read", "update"]
}

# packages-read-staging: when it was last rotated (metrics)
path "kv-staging/metadata/gitlab/packages-read" {
  capabilities = ["read"]
}

# release-bot-staging: current value (detect, promote, rollback)
path "kv-staging/data/gitlab/release-bot" {
  capabilities = ["create", "read", "update"]
}

# release-bot-staging: new value staged until promoted (issue, verify, distribute)
path "kv-staging/data/gitlab/release-bot/staged" {
  capabilities = ["create", "read", "update"]
}

# release-bot-staging: when it was last rotated (metrics)
path "kv-staging/metadata/gitlab/release-bot" {
  capabilities = ["read"]
}

# downstream-trigger-staging: current value (detect, promote, rollback)
path "kv-staging/data/gitlab/deployer-trigger" {
  capabilities = ["create", "read", "update"]
}

# downstream-trigger-staging: new value staged until promoted (issue, verify, distribute)
path "kv-staging/data/gitlab/deployer-trigger/staged" {
  capabilities = ["create", "read", "update"]
}

# downstream-trigger-staging: when it was last rotated (metrics)
path "kv-staging/metadata/gitlab/deployer-trigger" {
  capabilities = ["read"]
}

# artifact-store-staging: current value (detect, promote, rollback)
path "kv-staging/data/oauth2/ci-uploader" {
  capabilities = ["create", "read", "update"]
}

# artifact-store-staging: new value staged until promoted (issue, verify, distribute)
path "kv-staging/data/oauth2/ci-uploader/staged" {
  capabilities = ["create", "read", "update"]
}

# artifact-store-staging: when it was last rotated (metrics)
path "kv-staging/metadata/oauth2/ci-uploader" {
  capabilities = ["read"]
}

# artifact-store-staging.source.clientSecret: read-only
path "kv-staging/data/oauth2/ci-uploader-client" {
  capabilities = ["read"]
}

# the audit chain's HMAC key (ROTATOR_AUDIT_KEY_PATH): read at start
path "secret/data/cred-rotator/audit-key" {
  capabilities = ["read"]
}

# the audit log's head, written after each step (ROTATOR_AUDIT_ANCHOR_PATH, or one per log beside the key)
path "secret/data/cred-rotator/audit-anchors/+" {
  capabilities = ["create", "read", "update"]
}
