package e2e_test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

// binary is the ecommerce executable built by TestMain, or "" when the
// tests are skipped.
var binary string

// skipReason says why the end-to-end tests do not run here, or is "".
var skipReason string

func TestMain(m *testing.M) {
	flag.Parse() // testing.Short needs the flags before m.Run
	var dir string
	switch {
	case runtime.GOOS != "linux":
		skipReason = "the end-to-end tests need Linux (/proc)"
	case testing.Short():
		skipReason = "the end-to-end tests build and run the whole shop; skipped with -short"
	default:
		var err error
		if dir, err = os.MkdirTemp("", "ecommerce-e2e-bin-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		binary = filepath.Join(dir, "ecommerce")
		if err := build(binary); err != nil {
			os.RemoveAll(dir)
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	goleak.VerifyTestMain(m,
		goleak.Cleanup(func(int) {
			if dir != "" {
				os.RemoveAll(dir)
			}
		}),
	)
}

// build compiles the shop into out, without -race whatever the test binary
// was built with: the shop's own packages have race-enabled tests of their
// own, and a race build would slow the six services and the gateway down.
func build(out string) error {
	// go test puts its own GOROOT/bin first on the test's PATH.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("e2e: the go command is needed to build the shop: %w", err)
	}
	cmd := exec.Command(goCmd, "build", "-o", out, "github.com/switchyard/switchyard/examples/ecommerce")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("e2e: go build ./examples/ecommerce: %w\n%s", err, b)
	}
	return nil
}
