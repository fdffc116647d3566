// Builds the HashiCorp Vault server, v1.13.0 (MPL-2.0), as a dependency of this module, so the
// upstream go.mod replace directives that `go install` refuses do not apply and the published
// api and sdk modules are used instead.
//
// Why v1.13.0: OpenBao is not served by the Go module proxy here, and Vault releases from 1.15 on
// are under the Business Source License. Every 1.14.x and later 1.13.x release was built against an
// in-tree sdk that was never published: with the published sdk they either do not compile
// (v1.13.5, v1.14.0, v1.14.8) or panic at start (v1.14.1: "Pattern managed-keys/... defines a
// CreateOperation but no ExistenceCheck"). v1.13.0 builds and runs with the published sdk v0.8.1.
// Its KV v2 API is the one later releases serve.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
