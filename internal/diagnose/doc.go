// Package diagnose analyses gateway request logs — apimgw's own JSON lines or
// an export of Azure's ApiManagementGatewayLogs table (CSV, JSON, JSON lines,
// optionally gzip-compressed) — and reports whether and when backend
// connection failures happened, what caused them (SNAT port exhaustion,
// backend errors, timeouts, client disconnects, throttling, an open circuit
// breaker) and which mitigations apply, ordered from least to most invasive.
//
// Input is streamed in constant memory: records are aggregated into one-minute
// bins (with a fixed-size histogram for backend-time percentiles) as they are
// read, several files are merged by time, and malformed lines are counted
// rather than fatal. Analyze builds a Report; WriteText, WriteJSON and
// WriteHTML render it; Main is the `apimgw diagnose` subcommand.
package diagnose
