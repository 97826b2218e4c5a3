package authn_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
)

// A key id is the key's RFC 7638 thumbprint (here the key of RFC 8037 A.3).
func ExampleKeyID() {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	fmt.Println(authn.KeyID(ed25519.PublicKey(x)))
	// Output:
	// kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k
}
