package etcd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/switchyard/switchyard/discovery"
)

// DefaultPrefix is the key prefix under which instances are stored unless
// the Prefix of [RegistrarConfig] and [ResolverConfig] says otherwise.
//
// The layout is one key per registration:
//
//	<prefix><service>/<id>  →  JSON of the instance
//
// for example
//
//	/switchyard/services/catalog/catalog-7f3a  →  {"id":"catalog-7f3a","service":"catalog","addr":"10.0.0.7:8080","weight":2}
//
// and every key is attached to its registrar's lease, so it disappears
// when the registering process stops renewing.
const DefaultPrefix = "/switchyard/services/"

// ErrBadRecord is wrapped by errors about registry values that cannot be
// turned into an instance. Watchers skip such records and log them.
var ErrBadRecord = errors.New("etcd: bad registry record")

// ErrBadName is returned for service names that cannot be stored under the
// key layout: a service name must not contain '/'.
var ErrBadName = errors.New("etcd: service name contains '/'")

// record is the JSON form of a discovery.Instance. Field names are part of
// the storage format: change them only with a migration.
type record struct {
	ID      string            `json:"id"`
	Service string            `json:"service"`
	Addr    string            `json:"addr"`
	Weight  int               `json:"weight,omitempty"`
	Zone    string            `json:"zone,omitempty"`
	Version string            `json:"version,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
}

// ServicePrefix returns the key prefix that holds every instance of
// service: prefix + service + "/".
func ServicePrefix(prefix, service string) string {
	return prefix + service + "/"
}

// Key returns the key under which inst is stored.
func Key(prefix string, inst discovery.Instance) string {
	return ServicePrefix(prefix, inst.Service) + inst.ID
}

// Encode returns the value stored for inst. It validates inst first.
func Encode(inst discovery.Instance) ([]byte, error) {
	if err := inst.Validate(); err != nil {
		return nil, fmt.Errorf("etcd: encode: %w", err)
	}
	if strings.Contains(inst.Service, "/") {
		return nil, fmt.Errorf("%w: %q", ErrBadName, inst.Service)
	}
	return json.Marshal(record(inst))
}

// Decode turns the value stored under key into an instance. It checks that
// the value is a valid instance (see discovery.Instance.Validate) and that
// it belongs where it is stored: its service and ID must match the key.
// Every error wraps [ErrBadRecord].
func Decode(prefix string, key, value []byte) (discovery.Instance, error) {
	var r record
	dec := json.NewDecoder(bytes.NewReader(value))
	if err := dec.Decode(&r); err != nil {
		return discovery.Instance{}, fmt.Errorf("%w: %s: %w", ErrBadRecord, key, err)
	}
	if dec.More() {
		return discovery.Instance{}, fmt.Errorf("%w: %s: trailing data after the JSON object", ErrBadRecord, key)
	}
	inst := discovery.Instance(r)
	if err := inst.Validate(); err != nil {
		return discovery.Instance{}, fmt.Errorf("%w: %s: %w", ErrBadRecord, key, err)
	}
	if strings.Contains(inst.Service, "/") || Key(prefix, inst) != string(key) {
		return discovery.Instance{}, fmt.Errorf("%w: %s: holds %s/%s, which belongs under another key",
			ErrBadRecord, key, inst.Service, inst.ID)
	}
	return inst, nil
}
