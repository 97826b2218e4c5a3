package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A netlab is a few "hosts" on one machine: network namespaces, each with
// one interface on a bridge that lives in a namespace of its own, and an
// address of a /24 the lab picks. Nothing it starts can reach the
// machine's own network, nor anything else reach it: the bridge has no
// uplink and the root namespace no interface on it. Close (registered as
// a cleanup) kills every process left in the namespaces and deletes them,
// whatever the test did.
type netlab struct {
	t      *testing.T
	prefix string // of every namespace's name: "sy" and 6 hex digits
	subnet [3]byte
	hosts  int
}

// netlabReason says why a netlab cannot be made here, or is "".
func netlabReason() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "the ip command (iproute2) is missing"
	}
	return ""
}

// newNetlab makes hosts namespaces h1…hN on a bridge, with the addresses
// 10.A.B.1 … 10.A.B.N/24 for an A.B chosen at random among 200–249.
func newNetlab(t *testing.T, hosts int) *netlab {
	t.Helper()
	var id [3]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(50*50))
	l := &netlab{t: t, prefix: "sy" + hex.EncodeToString(id[:]), hosts: hosts,
		subnet: [3]byte{10, byte(200 + n.Int64()/50), byte(200 + n.Int64()%50)}}
	t.Cleanup(l.close)
	br := l.ns(0)
	l.ip("netns", "add", br)
	l.ip("-n", br, "link", "set", "lo", "up")
	l.ip("-n", br, "link", "add", "br0", "type", "bridge")
	l.ip("-n", br, "link", "set", "br0", "up")
	for h := 1; h <= hosts; h++ {
		ns := l.ns(h)
		l.ip("netns", "add", ns)
		l.ip("-n", ns, "link", "set", "lo", "up")
		l.ip("-n", br, "link", "add", l.port(h), "type", "veth", "peer", "name", "eth0", "netns", ns)
		l.ip("-n", br, "link", "set", l.port(h), "master", "br0", "up")
		l.ip("-n", ns, "addr", "add", l.addr(h)+"/24", "dev", "eth0")
		l.ip("-n", ns, "link", "set", "eth0", "up")
	}
	return l
}

// ns returns the name of host h's namespace; 0 is the bridge's.
func (l *netlab) ns(h int) string {
	if h == 0 {
		return l.prefix + "br"
	}
	return fmt.Sprintf("%sh%d", l.prefix, h)
}

func (l *netlab) port(h int) string { return fmt.Sprintf("p%d", h) }

// addr returns host h's address.
func (l *netlab) addr(h int) string {
	return fmt.Sprintf("%d.%d.%d.%d", l.subnet[0], l.subnet[1], l.subnet[2], h)
}

// cidr returns the lab's network.
func (l *netlab) cidr() string {
	return fmt.Sprintf("%d.%d.%d.0/24", l.subnet[0], l.subnet[1], l.subnet[2])
}

func (l *netlab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// command returns a command that runs name in host h's namespace.
func (l *netlab) command(h int, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.ns(h), name}, args...)...)
}

// cut takes host h off the network the way a host dies: every process in
// its namespace is killed at once, and its link to the bridge is removed.
func (l *netlab) cut(h int) {
	l.t.Helper()
	l.killAll(l.ns(h))
	l.ip("-n", l.ns(0), "link", "del", l.port(h))
}

// killAll SIGKILLs every process in namespace ns.
func (l *netlab) killAll(ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (l *netlab) close() {
	for h := l.hosts; h >= 0; h-- {
		l.killAll(l.ns(h))
	}
	// Killed processes leave their namespace a moment later; deleting it
	// before does no harm (the namespace goes with its last process), but
	// the name must go now.
	for h := l.hosts; h >= 0; h-- {
		if out, err := exec.Command("ip", "netns", "del", l.ns(h)).CombinedOutput(); err != nil {
			l.t.Logf("ip netns del %s: %v %s", l.ns(h), err, out)
		}
	}
}

// dialer returns a DialContext that opens its connections from host h's
// namespace, so that a client in this test process reaches the lab's
// addresses while its traffic stays inside the lab. A socket belongs to
// the namespace of the thread that made it; the dial runs on a thread
// locked and switched to h's namespace for the call and switched back
// after (a thread that cannot switch back is left locked, so that the
// runtime retires it).
func (l *netlab) dialer(h int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	path := "/var/run/netns/" + l.ns(h)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		target, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer target.Close()
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer orig.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("setns %s: %w", path, err)
		}
		d := net.Dialer{Timeout: 3 * time.Second}
		conn, err := d.DialContext(ctx, network, addr)
		if setns(orig) == nil {
			runtime.UnlockOSThread()
		}
		return conn, err
	}
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }
