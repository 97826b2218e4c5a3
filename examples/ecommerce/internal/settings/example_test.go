package settings_test

import (
	"fmt"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// Every flag can come from an environment variable.
func ExampleEnvName() {
	fmt.Println(settings.EnvName("admin-email"))
	fmt.Println(settings.EnvName("registry-listen"))
	// Output:
	// ECOMMERCE_ADMIN_EMAIL
	// ECOMMERCE_REGISTRY_LISTEN
}
