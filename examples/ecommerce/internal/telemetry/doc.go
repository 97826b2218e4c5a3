// Package telemetry holds a service's instruments and logger: [New] builds
// the metrics on a private Prometheus registry (served at /metrics by
// instance.Run), [Instruments.ClientConfig] wires a client chain's hooks
// into them, and [NewLogger] makes the JSON logger with credentials
// redacted.
package telemetry
