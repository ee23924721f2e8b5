// Package gateway is the HTTP data plane: it routes a request to an API and
// operation, checks the subscription, runs the composed policy Pipeline and
// writes the response, one log line and metrics. A Plan (compiled from a
// config.Config) is immutable; a reload builds a new Plan and swaps it.
package gateway
