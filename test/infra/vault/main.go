// Builds the HashiCorp Vault server, v1.14.1 (MPL-2.0), as a dependency of this module, so the
// upstream go.mod replace directives that `go install` refuses do not apply and the published
// api and sdk modules are used instead.
//
// Why v1.14.1: OpenBao is not served by the module proxy here, and releases from 1.15 on are under
// the Business Source License. Later 1.14 patches (up to v1.14.8, still MPL-2.0) need an sdk that
// was never published: sdk v0.9.2 lacks symbols they use, and sdk v0.10.x changed interfaces they
// implement. v1.14.1 builds against the published sdk v0.9.2 and api v1.9.2.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
