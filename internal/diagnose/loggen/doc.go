// Package loggen generates labelled gateway logs for testing and
// demonstrating `apimgw diagnose`: one scenario per failure cause, with the
// incident windows the analysis must find. Records are logs.Record values
// and can be written as apimgw JSON lines or as the CSV and JSON shapes of
// an Azure Log Analytics export of ApiManagementGatewayLogs.
package loggen
