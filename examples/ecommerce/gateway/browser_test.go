package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// requireBrowserEnv, when set (to anything), turns a missing Chromium from a
// skip into a failure; CI sets it to 1.
const requireBrowserEnv = "SWITCHYARD_REQUIRE_BROWSER"

// findChromium returns the path of a Chromium-like browser, or skips (or,
// with requireBrowserEnv set, fails) the test.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found on PATH (install it with: apt-get install -y chromium)"
	if _, set := os.LookupEnv(requireBrowserEnv); set {
		t.Fatalf("%s, and %s is set", msg, requireBrowserEnv)
	}
	t.Skipf("%s; set %s=1 to make this a failure", msg, requireBrowserEnv)
	return ""
}

// browser starts a fresh headless Chromium for one test and returns a tab's
// context, bounded by timeout. Everything the pages do that a test should
// see as a failure — an uncaught exception, a console error, a CSP or other
// browser log error, a request to another origin — is collected and
// reported at the end of the test.
func browser(t *testing.T, base string, timeout time.Duration) context.Context {
	t.Helper()
	path := findChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)

	var (
		mu       sync.Mutex // guards problems
		problems []string
	)
	note := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	listen := func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			note("uncaught exception at %s:%d: %s", d.URL, d.LineNumber, desc)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				note("console.error: %s", strings.Join(parts, " "))
			}
		case *log.EventEntryAdded:
			// The storefront's own failed API calls (401 for a probe, 429)
			// are logged by the browser as network errors; those are
			// expected answers, not defects.
			if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != log.EntrySourceNetwork {
				note("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		case *network.EventRequestWillBeSent:
			u := ev.Request.URL
			if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
				note("request to another origin: %s", u)
			}
		}
	}
	// Start the browser now, bound to the test's timeout, so that a launch
	// failure is reported as such.
	if err := chromedp.Listen(ctx, listen); err != nil {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Error(p)
		}
	})
	return ctx
}

// css selects the first element matching a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// waitText waits until the text of the first element matching sel contains
// want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		js := fmt.Sprintf(`((document.querySelector(%q) || {}).textContent || "").includes(%q)`, sel, want)
		if _, err := chromedp.Poll[bool](js, chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))(ctx, t); err != nil {
			got, _ := chromedp.Evaluate[string](fmt.Sprintf(`((document.querySelector(%q) || {}).textContent || "<no element>")`, sel))(ctx, t)
			return fmt.Errorf("%s never contained %q (it reads %q): %w", sel, want, got, err)
		}
		return nil
	})
}

// count stores the number of elements matching sel in n.
func count(sel string, n *int) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))(ctx, t)
		*n = v
		return err
	})
}

// text stores the text of the first element matching sel in s.
func text(sel string, s *string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := chromedp.Text(css(sel))(ctx, t)
		*s = v
		return err
	})
}

// TestStorefrontInBrowser drives the storefront page in a real headless
// Chromium against the gateway and fake upstreams: it lists the products,
// signs up, logs in, adds a product to the cart, places an order, sees the
// confirmation and the order in "My orders", cancels it; then the admin logs
// in to the dashboard and sees every instance.
func TestStorefrontInBrowser(t *testing.T) {
	shop := newFakeShop(t)
	base, _ := startGateway(t, shop, noLimit, noLimit)
	ctx := browser(t, base, 60*time.Second)

	const email = "dana@example.com"
	var products, cart int
	var orderID string
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css(`#products .product[data-id="prd_03"]`)),
		count(`#products .product`, &products),
		waitText(`.product[data-id="prd_02"] .name`, "Walnut board"),
		waitText(`.product[data-id="prd_02"] .price`, "$20.00"),
		waitText(`.product[data-id="prd_02"] .stock`, "5 in stock"),

		// Sign up, then log in with the e-mail the page prefills.
		chromedp.SendKeys(css(`#signup-name`), "Dana"),
		chromedp.SendKeys(css(`#signup-email`), email),
		chromedp.SendKeys(css(`#signup-password`), "a long passphrase"),
		chromedp.Click(css(`#signup-submit`)),
		waitText(`#status`, "Account created for "+email),
		chromedp.SendKeys(css(`#login-password`), "a long passphrase"),
		chromedp.Click(css(`#login-submit`)),
		waitText(`#who`, "Signed in as "+email),

		// Two of one product into the cart, then check out.
		chromedp.Click(css(`.product[data-id="prd_02"] .add-to-cart`)),
		chromedp.Click(css(`.product[data-id="prd_02"] .add-to-cart`)),
		waitText(`#cart-count`, "2"),
		waitText(`#cart-total`, "$40.00"),
		count(`#cart .line`, &cart),
		chromedp.Click(css(`#place-order`)),
		chromedp.WaitVisible(css(`#confirmation-id`)),
		text(`#confirmation-id`, &orderID),
		waitText(`#confirmation`, "total $40.00"),
		waitText(`#cart-count`, "0"),
		waitText(`.product[data-id="prd_02"] .stock`, "3 in stock"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if products != 3 || cart != 1 {
		t.Errorf("%d products listed, %d cart lines; want 3 and 1", products, cart)
	}
	shop.mu.Lock()
	o, ok := shop.orders[orderID]
	shop.mu.Unlock()
	if !ok || o.Status != "confirmed" || len(o.Items) != 1 || o.Items[0].ProductID != "prd_02" || o.Items[0].Quantity != 2 || o.TotalCents != 4000 {
		t.Fatalf("order %q in the shop: %+v (found %v)", orderID, o, ok)
	}

	// The order is listed, and cancelling it from the list works.
	orderLine := fmt.Sprintf(`#orders .order[data-id=%q]`, orderID)
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(css(orderLine)),
		waitText(orderLine, "confirmed"),
		chromedp.Click(css(orderLine+` .cancel`)),
		chromedp.WaitVisible(css(fmt.Sprintf(`#orders .order[data-id=%q][data-status="cancelled"]`, orderID))),
		waitText(`#status`, "cancelled"),
	)
	if err != nil {
		t.Fatal(err)
	}

	// The admin dashboard: a user's token is refused, an admin's shows
	// every upstream instance.
	var catalogInstances int
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/"),
		waitText(`#status`, "is not an admin"),
		chromedp.SendKeys(css(`#login-email`), adminEmail),
		chromedp.SendKeys(css(`#login-password`), adminPassword),
		chromedp.Click(css(`#login-submit`)),
		chromedp.WaitVisible(css(`#services .service[data-service="catalog"] .instance`)),
		waitText(`.service[data-service="catalog"] .instance[data-id="catalog-2"]`, "ready"),
		waitText(`.service[data-service="orders"] .instance[data-id="orders-1"]`, "closed"),
		waitText(`.service[data-service="users"]`, "users-1"),
		count(`.service[data-service="catalog"] .instance`, &catalogInstances),
		waitText(`#routes`, "POST /api/v1/orders"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if catalogInstances != 2 {
		t.Errorf("dashboard shows %d catalog instances, want 2", catalogInstances)
	}

	// The dashboard refreshes on its own: a new instance appears.
	shop.start("catalog", "catalog-3", http.NotFoundHandler())
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(`.instance[data-id="catalog-3"]`))); err != nil {
		t.Fatalf("the dashboard did not show a new instance: %v", err)
	}
}
