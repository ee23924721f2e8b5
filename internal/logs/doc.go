// Package logs defines the gateway request log record, whose fields carry the
// column names of Azure's ApiManagementGatewayLogs table, and a concurrency-safe
// JSON-lines writer for it. The same record type is read back by diagnose.
package logs
