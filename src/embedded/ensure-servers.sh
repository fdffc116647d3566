#!/usr/bin/env bash
# Finds or builds the real servers that the tests, the worker's embedded default (no TEMPORAL_ADDRESS
# or VAULT_ADDR) and the sandbox use: the Temporal CLI dev server and a Vault dev server, and for the
# tests of the AWS Secrets Manager store, moto's server. Prints `TEMPORAL_CLI_PATH=...`, `VAULT_BIN=...`
# and `CACHE_DIR=...` on stdout; progress goes to stderr. `ensure-servers.sh moto` gives moto alone, as
# `MOTO_SERVER=...`, since only the tests need it, and it needs Python rather than Go.
# With --topology it also builds the production Temporal server and its SQL schema tool that
# `npm run topology` runs (topology/), copies the server's PostgreSQL schemas beside them, and prints
# `TEMPORAL_SERVER_BIN=...`, `TEMPORAL_SQL_TOOL=...` and `TEMPORAL_SERVER_SCHEMA_DIR=...`; without it,
# tests never pay for that longer build.
# Built binaries live in a machine-wide cache keyed by version, because CI clones afresh every run
# and a cache inside the clone would always be empty.
set -euo pipefail

topology=false
[ "${1:-}" = --topology ] && topology=true

TEMPORAL_CLI_VERSION=1.5.1 # later tags carry a go.mod replace directive that `go install` refuses
VAULT_VERSION=1.13.0       # HashiCorp Vault under MPL-2.0; src/embedded/vault/main.go says why this release
MOTO_VERSION=5.2.5         # moto (Apache-2.0) from PyPI, whose server speaks the Secrets Manager API
TEMPORAL_SERVER_VERSION=1.29.1 # the server the CLI above embeds, so the topology runs what tests run

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${ROTATOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cred-rotator}"
bin="$cache/bin"
logs="$cache/logs"
mkdir -p "$bin" "$logs"

say() { echo "[servers] $*" >&2; }

# What each build needs on PATH, and what to install when it is missing.
declare -A needs=(
  [go]="Go 1.25+ is needed to build the dev servers"
  [python3]="Python 3.10+ with its venv module is needed to install moto"
)

# build NAME TARGET TOOL COMMAND...: runs COMMAND (which must write TARGET.partial) once, under a
# lock so that parallel runs share one build, and moves the result into place atomically. TOOL is
# what COMMAND needs on PATH, one of `needs`.
build() {
  local name=$1 target=$2 tool=$3
  shift 3
  (
    flock 9
    [ -x "$target" ] && exit 0
    command -v "$tool" >/dev/null || { say "cannot build $name: '$tool' is not on PATH (${needs[$tool]})"; exit 1; }
    say "building $name into $target (log: $logs/build-$name.log); a cold build takes several minutes"
    local started=$SECONDS
    if ! "$@" >"$logs/build-$name.log" 2>&1; then
      say "building $name failed; the last lines of $logs/build-$name.log:"
      tail -n 20 "$logs/build-$name.log" >&2
      exit 1
    fi
    mv "$target.partial" "$target"
    say "built $name in $((SECONDS - started))s"
  ) 9>"$bin/.$name.lock"
}

build_temporal() {
  local gobin
  gobin=$(mktemp -d)
  CGO_ENABLED=0 GOBIN="$gobin" go install \
    -ldflags "-X github.com/temporalio/cli/temporalcli.Version=$TEMPORAL_CLI_VERSION" \
    "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
  mv "$gobin/temporal" "$bin/temporal-$TEMPORAL_CLI_VERSION.partial"
  rmdir "$gobin"
}

# moto lives in a virtual environment of its own, keyed by version. A virtual environment cannot be
# moved, so it is made in place and the launcher, written last, is what marks it complete.
build_moto() {
  local venv="$cache/moto-$MOTO_VERSION"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check --no-input "moto[server]==$MOTO_VERSION"
  printf '#!/bin/sh\nexec %q "$@"\n' "$venv/bin/moto_server" >"$bin/moto-server-$MOTO_VERSION.partial"
  chmod +x "$bin/moto-server-$MOTO_VERSION.partial"
}

# Builds the server and the schema tool in one `go install`: they share the module and most packages.
build_temporal_server() {
  local gobin
  gobin=$(mktemp -d)
  CGO_ENABLED=0 GOBIN="$gobin" go install -trimpath -ldflags="-s -w" \
    "go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION" \
    "go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION"
  mv "$gobin/sql" "$bin/temporal-sql-tool-$TEMPORAL_SERVER_VERSION"
  mv "$gobin/server" "$bin/temporal-server-$TEMPORAL_SERVER_VERSION.partial"
  rmdir "$gobin"
}

# Copies the server's PostgreSQL schemas (what temporal-sql-tool applies) beside the binaries, so that
# running the topology needs neither Go nor the module cache the build used.
copy_temporal_schema() {
  local module
  module=$(go mod download -json "go.temporal.io/server@v$TEMPORAL_SERVER_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  cp -R "$module/schema/postgresql/v12" "$bin/temporal-schema-$TEMPORAL_SERVER_VERSION.partial"
  # The module cache is read-only; the copy must stay removable.
  chmod -R u+w "$bin/temporal-schema-$TEMPORAL_SERVER_VERSION.partial"
}

build_vault() {
  # -checklinkname=0: Vault 1.14's dependencies use go:linkname in ways Go 1.23+ rejects by default;
  # -s -w drop debug symbols (a third of the binary).
  (cd "$here/vault" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -checklinkname=0" \
    -o "$bin/vault-$VAULT_VERSION.partial" .)
}

# resolve VAR NAMES... : an explicit path in $VAR wins, then the first NAME on PATH; else empty.
resolve() {
  local var=$1 explicit=${!1:-}
  shift
  if [ -n "$explicit" ]; then
    [ -x "$explicit" ] || { say "$var=$explicit is not an executable file"; exit 1; }
    echo "$explicit"
    return
  fi
  local name
  for name in "$@"; do
    if command -v "$name" >/dev/null; then
      command -v "$name"
      return
    fi
  done
}

if [ "$*" = moto ]; then
  # Only this version, never whichever moto_server is on PATH: the tests rely on how 5.2.5 behaves.
  moto=$(resolve MOTO_SERVER)
  if [ -z "$moto" ]; then
    moto="$bin/moto-server-$MOTO_VERSION"
    build moto "$moto" python3 build_moto
  fi
  echo "MOTO_SERVER=$moto"
  echo "CACHE_DIR=$cache"
  exit 0
fi
[ $# -eq 0 ] || $topology || { say "usage: ensure-servers.sh [moto | --topology]"; exit 1; }

temporal=$(resolve TEMPORAL_CLI_PATH temporal)
if [ -z "$temporal" ]; then
  temporal="$bin/temporal-$TEMPORAL_CLI_VERSION"
  build temporal-cli "$temporal" go build_temporal
fi

vault=$(resolve VAULT_BIN bao vault)
if [ -z "$vault" ]; then
  vault="$bin/vault-$VAULT_VERSION"
  build vault "$vault" go build_vault
fi

if $topology; then
  server="$bin/temporal-server-$TEMPORAL_SERVER_VERSION"
  build temporal-server "$server" go build_temporal_server
  echo "TEMPORAL_SERVER_BIN=$server"
  echo "TEMPORAL_SQL_TOOL=$bin/temporal-sql-tool-$TEMPORAL_SERVER_VERSION"
  schema="$bin/temporal-schema-$TEMPORAL_SERVER_VERSION"
  build temporal-schema "$schema" go copy_temporal_schema
  echo "TEMPORAL_SERVER_SCHEMA_DIR=$schema"
fi

echo "TEMPORAL_CLI_PATH=$temporal"
echo "VAULT_BIN=$vault"
echo "CACHE_DIR=$cache"
