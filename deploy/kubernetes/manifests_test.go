package kubernetes_test

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/examples/ecommerce/shopcli"
)

// operatorDSN stands for the DSN of a Secret an overlay leaves to the
// operator (prod's shop-db): any URL the services accept.
const operatorDSN = "postgres://shop:secret@db.example.internal:5432/shop?sslmode=verify-full"

// trustDomain is the SPIFFE trust domain of the shop's certificates.
const trustDomain = "spiffe://shop.internal/"

var overlays = []string{"overlays/dev", "overlays/prod"}

// workload is a Deployment's or StatefulSet's pods.
type workload struct {
	kind, name string
	labels     map[string]string
	pod        *corev1.PodSpec
}

func (r *rendered) workloads() []workload {
	var out []workload
	for name, d := range r.deployments {
		out = append(out, workload{"Deployment", name, d.Spec.Template.Labels, &d.Spec.Template.Spec})
	}
	for name, s := range r.statefulSets {
		out = append(out, workload{"StatefulSet", name, s.Spec.Template.Labels, &s.Spec.Template.Spec})
	}
	slices.SortFunc(out, func(a, b workload) int { return strings.Compare(a.name, b.name) })
	return out
}

// isShop reports whether c runs the shop's binary.
func isShop(c *corev1.Container) bool { return strings.Contains(c.Image, "switchyard/ecommerce") }

// env resolves c's environment: literal values, ConfigMap keys and Secret
// keys of the rendered overlay (operatorDSN for a Secret it leaves out).
func (r *rendered) env(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := r.configMaps[ref.Name]
			if cm == nil {
				t.Errorf("%s: env %s: no ConfigMap %s", c.Name, e.Name, ref.Name)
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				t.Errorf("%s: env %s: ConfigMap %s has no key %s", c.Name, e.Name, ref.Name, ref.Key)
			}
			out[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := r.secretValue(ref.Name, ref.Key)
			if !ok {
				if r.secrets[ref.Name] != nil {
					t.Errorf("%s: env %s: Secret %s has no key %s", c.Name, e.Name, ref.Name, ref.Key)
				}
				v = operatorDSN
			}
			out[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			out[e.Name] = "$(" + e.ValueFrom.FieldRef.FieldPath + ")"
		default:
			t.Errorf("%s: env %s: a source this test does not resolve", c.Name, e.Name)
		}
	}
	return out
}

// parse parses c's command line with the shop's flag parser in c's
// environment, as the container would.
func parse(t *testing.T, env map[string]string, args []string) (*shopcli.Serve, error) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ECOMMERCE_") {
			t.Fatalf("the test's own environment sets %s", k)
		}
	}
	for k, v := range env {
		os.Setenv(k, v)
	}
	defer func() {
		for k := range env {
			os.Unsetenv(k)
		}
	}()
	return shopcli.Parse(args)
}

// port resolves a probe's or policy's port against c's ports.
func port(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, true
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// mountedAt returns the volume mounted at the directory holding path.
func mountedAt(pod *corev1.PodSpec, c *corev1.Container, path string) *corev1.Volume {
	var best *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if (path == m.MountPath || strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")) &&
			(best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = &c.VolumeMounts[i]
		}
	}
	if best == nil {
		return nil
	}
	for i, v := range pod.Volumes {
		if v.Name == best.Name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

// flagValue returns the value of --name in args (--name=v or --name v).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// Every object of both overlays decodes strictly into the API types, and
// every pod is unprivileged, read-only and bounded.
func TestPodsAreLockedDown(t *testing.T) {
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			if ns := r.namespaces["shop"]; ns == nil || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("namespace shop missing or not restricted: %+v", ns)
			}
			for _, w := range r.workloads() {
				pod := w.pod
				if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
					pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser == 0 {
					t.Errorf("%s: the pod may run as root", w.name)
				}
				for _, c := range pod.Containers {
					sc := c.SecurityContext
					if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
						sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
						sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
						t.Errorf("%s/%s: not read-only, unprivileged and without capabilities", w.name, c.Name)
					}
					for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
						if _, ok := c.Resources.Requests[res]; !ok {
							t.Errorf("%s/%s: no %s request", w.name, c.Name, res)
						}
						if _, ok := c.Resources.Limits[res]; !ok {
							t.Errorf("%s/%s: no %s limit", w.name, c.Name, res)
						}
					}
					if c.LivenessProbe == nil || c.ReadinessProbe == nil {
						t.Errorf("%s/%s: probes missing", w.name, c.Name)
					}
				}
			}
		})
	}
}

// The shop's containers: their command lines parse with the shop's own
// flag parser in their environment, every probe asks a path the process
// serves on the port it listens on (HTTPS exactly when that listener is
// TLS), the registry and the database named exist, the certificates
// mounted are the service's own, the data directory is on a volume, and
// the grace period covers the drain.
func TestShopContainers(t *testing.T) {
	drain := max(switchyard.DefaultDrainDelay, switchyard.DefaultConfirmTimeout) + switchyard.DefaultShutdownTimeout
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			seen := map[string]bool{}
			for _, w := range r.workloads() {
				for ci := range w.pod.Containers {
					c := &w.pod.Containers[ci]
					if !isShop(c) {
						continue
					}
					env := r.env(t, c)
					s, err := parse(t, env, c.Args)
					if err != nil {
						t.Errorf("%s/%s: args %q do not parse: %v", w.name, c.Name, c.Args, err)
						continue
					}
					seen[s.Service] = true
					if s.Service != w.name {
						t.Errorf("%s runs serve %s", w.name, s.Service)
					}
					for k := range env {
						if strings.HasPrefix(k, "ECOMMERCE_") && !slices.Contains(s.Env, k) {
							t.Errorf("%s: %s is no variable of serve %s", w.name, k, s.Service)
						}
					}
					checkProbes(t, w, c, s)
					checkRegistry(t, r, w, s)
					if s.Service != "gateway" && s.DB == "" {
						t.Errorf("%s: no --db: each replica would have its own SQLite file", w.name)
					}
					if v := mountedAt(w.pod, c, s.Data); v == nil || (v.EmptyDir == nil && v.PersistentVolumeClaim == nil) {
						t.Errorf("%s: --data %s is not on a writable volume", w.name, s.Data)
					} else if v.PersistentVolumeClaim != nil && r.pvcs[v.PersistentVolumeClaim.ClaimName] == nil {
						t.Errorf("%s: claim %s is not in the overlay", w.name, v.PersistentVolumeClaim.ClaimName)
					}
					checkTLS(t, r, w, c, s.Service)
					pre := c.Lifecycle
					if pre == nil || pre.PreStop == nil || pre.PreStop.Sleep == nil {
						t.Errorf("%s: no preStop sleep", w.name)
						continue
					}
					need := time.Duration(pre.PreStop.Sleep.Seconds)*time.Second + drain
					if g := w.pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < need {
						t.Errorf("%s: grace period %v s, the drain needs %v", w.name, g, need)
					}
				}
			}
			for _, svc := range shopcli.Services {
				if !seen[svc] {
					t.Errorf("no container runs serve %s", svc)
				}
			}
		})
	}
}

func checkProbes(t *testing.T, w workload, c *corev1.Container, s *shopcli.Serve) {
	t.Helper()
	_, lp, err := net.SplitHostPort(s.Listen)
	listen, _ := strconv.Atoi(lp)
	if err != nil || listen == 0 {
		t.Errorf("%s: --listen %s has no fixed port for probes and Services", w.name, s.Listen)
		return
	}
	for kind, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil {
			continue
		}
		if p.HTTPGet == nil {
			t.Errorf("%s: %s probe is not an HTTP GET", w.name, kind)
			continue
		}
		if !slices.Contains(shopcli.ProbePaths, p.HTTPGet.Path) || p.HTTPGet.Path == "/metrics" {
			t.Errorf("%s: %s probe asks %s, which is no probe path the process serves", w.name, kind, p.HTTPGet.Path)
		}
		if pn, ok := port(c, p.HTTPGet.Port); !ok || int(pn) != listen {
			t.Errorf("%s: %s probe on port %s, the process listens on %d", w.name, kind, p.HTTPGet.Port.String(), listen)
		}
		if want := map[bool]corev1.URIScheme{true: corev1.URISchemeHTTPS, false: corev1.URISchemeHTTP}[s.TLS]; p.HTTPGet.Scheme != want &&
			(p.HTTPGet.Scheme != "" || want != corev1.URISchemeHTTP) {
			t.Errorf("%s: %s probe scheme %s, the listener wants %s", w.name, kind, p.HTTPGet.Scheme, want)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("%s: readiness asks %s, not /readyz", w.name, c.ReadinessProbe.HTTPGet.Path)
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("%s: liveness asks %s, not /healthz (a failing dependency must not restart the pod)", w.name, c.LivenessProbe.HTTPGet.Path)
	}
}

// checkRegistry: an etcd registry's members are the pods of a
// StatefulSet behind its headless Service on the client port; a DNS
// registry's names are the headless Services of the services called.
func checkRegistry(t *testing.T, r *rendered, w workload, s *shopcli.Serve) {
	t.Helper()
	for _, ep := range s.Registry.Etcd {
		host, p, _ := net.SplitHostPort(strings.TrimPrefix(ep, "http://"))
		labelsOf := strings.SplitN(host, ".", 3) // pod, service, rest
		if len(labelsOf) != 3 || labelsOf[2] != "shop.svc.cluster.local" {
			t.Errorf("%s: registry member %s is not a pod of a Service of namespace shop", w.name, host)
			continue
		}
		ss := r.statefulSets[labelsOf[1]]
		pod, service := labelsOf[0], labelsOf[1]
		ord, err := strconv.Atoi(strings.TrimPrefix(pod, service+"-"))
		if ss == nil || ss.Spec.ServiceName != service || err != nil || ord >= int(*ss.Spec.Replicas) {
			t.Errorf("%s: registry member %s is no pod of a StatefulSet governed by Service %s", w.name, host, service)
			continue
		}
		svc := r.services[service]
		if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("%s: registry Service %s is missing or not headless", w.name, service)
			continue
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return strconv.Itoa(int(sp.Port)) == p }) {
			t.Errorf("%s: registry Service %s has no port %s", w.name, service, p)
		}
	}
	if s.Registry.DNSName == "" {
		return
	}
	for _, callee := range shopcli.Services {
		if callee == "gateway" {
			continue
		}
		name := s.Registry.Name(callee)
		want := "_http._tcp." + callee + ".shop.svc.cluster.local"
		if s.Registry.DNSPort != 0 {
			want = callee + ".shop.svc.cluster.local"
		}
		if name != want {
			t.Errorf("%s: registry name of %s is %s, the headless Service's is %s", w.name, callee, name, want)
		}
		svc := r.services[callee]
		if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone ||
			!slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == "http" }) {
			t.Errorf("%s: %s has no headless Service with a port named http for its SRV records", w.name, callee)
		}
	}
}

// checkTLS: --tls-cert, --tls-key and --tls-ca name the files of one
// mounted Secret, which a Certificate of the service's SPIFFE ID fills.
func checkTLS(t *testing.T, r *rendered, w workload, c *corev1.Container, service string) {
	t.Helper()
	var secret string
	for flag, file := range map[string]string{"tls-cert": "tls.crt", "tls-key": "tls.key", "tls-ca": "ca.crt"} {
		path := flagValue(c.Args, flag)
		v := mountedAt(w.pod, c, path)
		if path == "" || v == nil || v.Secret == nil || !strings.HasSuffix(path, "/"+file) {
			t.Errorf("%s: --%s %q is not %s of a mounted Secret", w.name, flag, path, file)
			return
		}
		if secret != "" && v.Secret.SecretName != secret {
			t.Errorf("%s: the TLS files come from two Secrets", w.name)
		}
		secret = v.Secret.SecretName
	}
	var cert *certificate
	for _, ct := range r.certificates {
		if ct.Spec.SecretName == secret {
			cert = ct
		}
	}
	if cert == nil || !slices.Equal(cert.Spec.URIs, []string{trustDomain + service}) {
		t.Errorf("%s: Secret %s is not filled by a Certificate of %s%s alone", w.name, secret, trustDomain, service)
		return
	}
	if !slices.Contains(cert.Spec.Usages, "server auth") || !slices.Contains(cert.Spec.Usages, "client auth") {
		t.Errorf("%s: certificate usages %v, want server auth and client auth", w.name, cert.Spec.Usages)
	}
	is := r.issuers[cert.Spec.IssuerRef.Name]
	if cert.Spec.IssuerRef.Kind != "Issuer" || is == nil || is.Spec.CA == nil {
		t.Errorf("%s: certificate issued by %+v, not the shop's CA Issuer", w.name, cert.Spec.IssuerRef)
		return
	}
	if ca := r.certificates["shop-ca"]; ca == nil || !ca.Spec.IsCA || ca.Spec.SecretName != is.Spec.CA.SecretName {
		t.Errorf("the CA Issuer's secret %s is not the shop's CA certificate", is.Spec.CA.SecretName)
	}
}

// Every Service selects the pods of a Deployment or StatefulSet and
// targets a port they declare; the Ingress, the budgets and the
// autoscalers name what exists.
func TestReferences(t *testing.T) {
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			ws := r.workloads()
			for name, svc := range r.services {
				if len(svc.Spec.Selector) == 0 {
					t.Errorf("Service %s selects nothing", name)
					continue
				}
				sel := labels.SelectorFromSet(svc.Spec.Selector)
				i := slices.IndexFunc(ws, func(w workload) bool { return sel.Matches(labels.Set(w.labels)) })
				if i < 0 {
					t.Errorf("Service %s selects no Deployment or StatefulSet", name)
					continue
				}
				for _, sp := range svc.Spec.Ports {
					ok := slices.ContainsFunc(ws[i].pod.Containers, func(c corev1.Container) bool {
						_, found := port(&c, sp.TargetPort)
						if sp.TargetPort.Type == intstr.Int || sp.TargetPort.StrVal == "" {
							tp := sp.TargetPort.IntVal
							if tp == 0 {
								tp = sp.Port
							}
							return slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == tp })
						}
						return found
					})
					if !ok {
						t.Errorf("Service %s port %s targets no port of %s", name, sp.Name, ws[i].name)
					}
				}
			}
			for name, ing := range r.ingresses {
				for _, rule := range ing.Spec.Rules {
					for _, p := range rule.HTTP.Paths {
						b := p.Backend.Service
						svc := r.services[b.Name]
						if svc == nil || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == b.Port.Name }) {
							t.Errorf("Ingress %s routes to %s:%s, which does not exist", name, b.Name, b.Port.Name)
						}
					}
				}
			}
			for name, pdb := range r.pdbs {
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				if err != nil || !slices.ContainsFunc(ws, func(w workload) bool { return sel.Matches(labels.Set(w.labels)) }) {
					t.Errorf("PodDisruptionBudget %s covers no pods", name)
				}
			}
			for _, w := range ws {
				covered := false
				for _, pdb := range r.pdbs {
					covered = covered || matches(pdb.Spec.Selector, w.labels)
				}
				// One development database has nothing to keep available.
				if !covered && w.name != "postgres" {
					t.Errorf("%s has no PodDisruptionBudget", w.name)
				}
			}
			for _, name := range []string{"gateway", "orders"} {
				h := r.hpas[name]
				if h == nil || h.Spec.ScaleTargetRef.Kind != "Deployment" || r.deployments[h.Spec.ScaleTargetRef.Name] == nil {
					t.Errorf("no HorizontalPodAutoscaler for the %s Deployment", name)
				}
			}
		})
	}
}

// The NetworkPolicies allow exactly the calls the shop makes: between the
// services, the caller → callee pairs that the callees' access policies
// admit (shopcli.Callers), and in dev the services to etcd's client port,
// etcd's members to each other's peer port and users, catalog and orders
// to PostgreSQL. Every other pair of pods and ports is refused.
func TestNetworkPoliciesAllowExactlyTheCalls(t *testing.T) {
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			want := map[string]bool{}
			for callee, callers := range shopcli.Callers() {
				for _, caller := range callers {
					want[caller+" → "+callee+":8080"] = true
				}
			}
			if r.statefulSets["etcd"] != nil {
				for _, s := range shopcli.Services {
					want[s+" → etcd:2379"] = true
				}
				want["etcd → etcd:2380"] = true
			}
			if r.statefulSets["postgres"] != nil {
				for _, s := range []string{"users", "catalog", "orders"} {
					want[s+" → postgres:5432"] = true
				}
			}
			got := map[string]bool{}
			ws := r.workloads()
			for _, src := range ws {
				for _, dst := range ws {
					for _, c := range dst.pod.Containers {
						for _, cp := range c.Ports {
							if r.allowed(src, dst, &c, cp) {
								got[fmt.Sprintf("%s → %s:%d", src.name, dst.name, cp.ContainerPort)] = true
							}
						}
					}
				}
			}
			// Outside the namespace: every pod asks the cluster's DNS, and
			// the ingress controller reaches the gateway's port.
			dnsPod := workload{name: "kube-dns", labels: map[string]string{"k8s-app": "kube-dns"}}
			dnsNS := map[string]string{"kubernetes.io/metadata.name": "kube-system"}
			dns := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}
			for _, w := range ws {
				if !r.admitsOutside(networkingv1.PolicyTypeEgress, w, dnsPod.labels, dnsNS, dns, dns.Ports[0]) {
					t.Errorf("refused: %s → kube-system/kube-dns:53/UDP", w.name)
				}
			}
			gw := ws[slices.IndexFunc(ws, func(w workload) bool { return w.name == "gateway" })]
			ingressNS := map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}
			gc := &gw.pod.Containers[0]
			if !r.admitsOutside(networkingv1.PolicyTypeIngress, gw, map[string]string{"app.kubernetes.io/name": "ingress-nginx"}, ingressNS, gc, gc.Ports[0]) {
				t.Errorf("refused: ingress-nginx → gateway:%d", gc.Ports[0].ContainerPort)
			}
			for k := range want {
				if !got[k] {
					t.Errorf("refused: %s", k)
				}
			}
			for k := range got {
				if !want[k] {
					t.Errorf("allowed, but the shop makes no such call: %s", k)
				}
			}
		})
	}
}

// allowed reports whether the policies let src's pods open a connection to
// port cp of dst's container c: an egress rule of every kind that selects
// src must admit it, and an ingress rule of those that select dst.
func (r *rendered) allowed(src, dst workload, c *corev1.Container, cp corev1.ContainerPort) bool {
	return r.admits(networkingv1.PolicyTypeEgress, src, dst, c, cp) && r.admits(networkingv1.PolicyTypeIngress, dst, src, c, cp)
}

// admits: the policies of type typ that select subject; none means the
// traffic is not isolated; otherwise one of their rules must name peer
// and the port.
func (r *rendered) admits(typ networkingv1.PolicyType, subject, peer workload, c *corev1.Container, cp corev1.ContainerPort) bool {
	selected := false
	for _, np := range r.policies {
		if !slices.Contains(np.Spec.PolicyTypes, typ) || !matches(&np.Spec.PodSelector, subject.labels) {
			continue
		}
		selected = true
		type rule struct {
			peers []networkingv1.NetworkPolicyPeer
			ports []networkingv1.NetworkPolicyPort
		}
		var rules []rule
		if typ == networkingv1.PolicyTypeEgress {
			for _, e := range np.Spec.Egress {
				rules = append(rules, rule{e.To, e.Ports})
			}
		} else {
			for _, in := range np.Spec.Ingress {
				rules = append(rules, rule{in.From, in.Ports})
			}
		}
		for _, ru := range rules {
			if peerMatches(ru.peers, peer.labels, r.namespaces["shop"].Labels) && portMatches(ru.ports, c, cp) {
				return true
			}
		}
	}
	return !selected
}

// admitsOutside is admits for a peer pod with labels peer in another
// namespace labelled ns: the policies of type typ selecting subject must
// have a rule naming it (by namespaceSelector) and the port, which is
// c's (the subject's for ingress, the peer's for egress).
func (r *rendered) admitsOutside(typ networkingv1.PolicyType, subject workload, peer, ns map[string]string, c *corev1.Container, cp corev1.ContainerPort) bool {
	selected := false
	for _, np := range r.policies {
		if !slices.Contains(np.Spec.PolicyTypes, typ) || !matches(&np.Spec.PodSelector, subject.labels) {
			continue
		}
		selected = true
		var peers [][]networkingv1.NetworkPolicyPeer
		var ports [][]networkingv1.NetworkPolicyPort
		if typ == networkingv1.PolicyTypeEgress {
			for _, e := range np.Spec.Egress {
				peers, ports = append(peers, e.To), append(ports, e.Ports)
			}
		} else {
			for _, in := range np.Spec.Ingress {
				peers, ports = append(peers, in.From), append(ports, in.Ports)
			}
		}
		for i := range peers {
			if outsidePeerMatches(peers[i], peer, ns) && portMatches(ports[i], c, cp) {
				return true
			}
		}
	}
	return !selected
}

// outsidePeerMatches: a pod of another namespace matches only a peer with
// a namespaceSelector matching that namespace (and its podSelector, if
// any), or no peers at all.
func outsidePeerMatches(peers []networkingv1.NetworkPolicyPeer, pod, ns map[string]string) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.NamespaceSelector == nil || !matches(p.NamespaceSelector, ns) {
			continue
		}
		if p.PodSelector == nil || matches(p.PodSelector, pod) {
			return true
		}
	}
	return false
}

func matches(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

// peerMatches: no peers means every peer; a pod of namespace shop matches
// a podSelector alone, or a namespaceSelector matching shop's labels
// (kubernetes.io/metadata.name: shop, which Kubernetes sets) with its
// podSelector. An ipBlock is taken to match nothing in the cluster.
func peerMatches(peers []networkingv1.NetworkPolicyPeer, pod, ns map[string]string) bool {
	if len(peers) == 0 {
		return true
	}
	nsLabels := map[string]string{"kubernetes.io/metadata.name": "shop"}
	for k, v := range ns {
		nsLabels[k] = v
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			continue
		}
		if p.NamespaceSelector != nil && !matches(p.NamespaceSelector, nsLabels) {
			continue
		}
		if p.PodSelector == nil || matches(p.PodSelector, pod) {
			return true
		}
	}
	return false
}

func portMatches(ports []networkingv1.NetworkPolicyPort, c *corev1.Container, cp corev1.ContainerPort) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		cpProto := cp.Protocol
		if cpProto == "" {
			cpProto = corev1.ProtocolTCP
		}
		if proto != cpProto {
			continue
		}
		if p.Port == nil {
			return true
		}
		if n, ok := port(c, *p.Port); ok && n == cp.ContainerPort {
			return true
		}
	}
	return false
}
