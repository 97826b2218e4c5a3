package settings

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ServicePlaceholder stands for a service's name in the DNS name of a
// dns+srv:// or dns:// registry URL: the users, catalog, orders and gateway
// processes look each other up by name, so one URL must name every service.
const ServicePlaceholder = "{service}"

// Registry is a parsed --registry URL: an etcd cluster, or DNS names that
// Kubernetes (or any DNS server) publishes for each service. Exactly one of
// Etcd and DNSName is set. Build it with [ParseRegistry].
type Registry struct {
	// Etcd lists the etcd members' client URLs (http://host:port) of an
	// etcd:// registry, as [RegistryEndpoints] returns them.
	Etcd []string
	// DNSName is the name queried for a service, with
	// [ServicePlaceholder] standing for the service's name
	// ("_http._tcp.{service}.shop.svc.cluster.local"), without the final
	// dot.
	DNSName string
	// DNSPort is zero for dns+srv:// (SRV records give each instance's
	// port), and for dns:// the port every A/AAAA address is served on.
	DNSPort int
	// DNSServer is the DNS server to ask, host:port, from the URL's
	// ?server= parameter. Empty: the first nameserver of
	// /etc/resolv.conf, which in a Kubernetes pod is the cluster's DNS.
	DNSServer string
}

// Name returns the DNS name of service for a DNS registry.
func (r Registry) Name(service string) string {
	return strings.ReplaceAll(r.DNSName, ServicePlaceholder, service)
}

// ParseRegistry parses a registry URL, one of
//
//	etcd://HOST:PORT[,HOST:PORT…]                         an etcd cluster (see RegistryEndpoints)
//	dns+srv://_http._tcp.{service}.NAMESPACE.svc.cluster.local   SRV records: Kubernetes headless Services
//	dns://{service}.NAMESPACE.svc.cluster.local:PORT        A/AAAA records, every address on PORT
//
// The DNS forms name every service at once: {service} is replaced by the
// name of the service looked up ("{service}-headless" is fine too).
// Either DNS form may end in ?server=HOST:PORT to ask that DNS server
// instead of the system's. Errors wrap [ErrConfig] and name --flagName
// and its variable.
func ParseRegistry(flagName, raw string) (Registry, error) {
	scheme, rest, _ := strings.Cut(raw, "://")
	switch scheme {
	case "etcd":
		eps, err := RegistryEndpoints(flagName, raw)
		return Registry{Etcd: eps}, err
	case "dns", "dns+srv":
	default:
		return Registry{}, flagError(flagName, raw,
			"must be etcd://host:port, dns+srv://_http._tcp."+ServicePlaceholder+".NAMESPACE.svc.cluster.local or dns://"+ServicePlaceholder+".NAMESPACE.svc.cluster.local:PORT")
	}
	srv := scheme == "dns+srv"
	rest, query, _ := strings.Cut(rest, "?")
	var r Registry
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil || len(q) != 1 || len(q["server"]) != 1 {
			return Registry{}, flagError(flagName, raw, "may carry one parameter, ?server=HOST:PORT")
		}
		r.DNSServer = q.Get("server")
		host, port, err := net.SplitHostPort(r.DNSServer)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return Registry{}, flagError(flagName, raw, "must name its DNS server as ?server=HOST:PORT")
		}
	}
	name := strings.TrimSuffix(rest, "/")
	if !srv {
		host, port, err := net.SplitHostPort(name)
		if err != nil {
			return Registry{}, flagError(flagName, raw, "must end in the port the services listen on, dns://"+ServicePlaceholder+".NAMESPACE.svc.cluster.local:PORT")
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Registry{}, flagError(flagName, raw, "must have a port from 1 to 65535")
		}
		name, r.DNSPort = host, n
	}
	name = strings.TrimSuffix(name, ".")
	if strings.Count(name, ServicePlaceholder) != 1 {
		return Registry{}, flagError(flagName, raw, "must hold "+ServicePlaceholder+" once, where each service's name goes")
	}
	if !isDomainName(strings.ReplaceAll(name, ServicePlaceholder, "gateway")) {
		return Registry{}, flagError(flagName, raw, "must be a DNS name once "+ServicePlaceholder+" is replaced by a service's name")
	}
	r.DNSName = name
	return r, nil
}

// isDomainName reports whether name is a dotted DNS name of labels of
// letters, digits, '-' and '_' (SRV names start with _port._proto), each 1
// to 63 bytes, at most 253 bytes in all.
func isDomainName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}
