package platform_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
)

// Every flag can come from an environment variable.
func ExampleEnvName() {
	fmt.Println(platform.EnvName("admin-email"))
	fmt.Println(platform.EnvName("registry-listen"))
	// Output:
	// ECOMMERCE_ADMIN_EMAIL
	// ECOMMERCE_REGISTRY_LISTEN
}

// A key id is the key's RFC 7638 thumbprint (here the key of RFC 8037 A.3).
func ExampleKeyID() {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	fmt.Println(platform.KeyID(ed25519.PublicKey(x)))
	// Output:
	// kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k
}

// A schema is a list of migrations; a seed is one of them, so it runs once.
func ExampleOpenDB() {
	dir, _ := os.MkdirTemp("", "platform-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	schema := []platform.Migration{
		platform.SQL(`CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)`),
		platform.SQL(`INSERT INTO notes VALUES ('n1', 'hello')`),
	}
	for range 2 { // the second open finds nothing to do
		db, err := platform.OpenDB(ctx, filepath.Join(dir, "notes.db"), schema...)
		if err != nil {
			fmt.Println(err)
			return
		}
		var n int
		_ = db.QueryRow(`SELECT COUNT(*) FROM notes`).Scan(&n)
		fmt.Println("notes:", n)
		db.Close()
	}
	// Output:
	// notes: 1
	// notes: 1
}
