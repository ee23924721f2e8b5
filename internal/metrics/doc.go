// Package metrics defines the gateway's request-level Prometheus collectors
// (SPEC §6). Outbound connection and port metrics live with their owners in
// internal/backend; everything registers on one registry per gateway.
package metrics
