// Package sim predicts outbound (SNAT) port usage of one or more gateway
// units towards one or more backend destinations, for `apimgw simulate`.
//
// A Scenario describes the traffic (arrivals, backend latency), the port
// budget (ports per unit, reclaim delay, NAT gateway) and the mitigations
// (pooling, more units or backend IPs, caching, rate limiting, timeouts,
// retries, circuit breaker). Run steps time forward in small fixed
// increments, keeping counts of requests, connections and ports per
// destination IP:port rather than individual requests, so a day at
// 10,000 requests/s runs in seconds while small scenarios stay exact
// enough to predict the real gateway. Compare runs a scenario under each
// mitigation and ranks them by failures avoided; WriteText, WriteJSON and
// WriteHTML render the outcome. Main is the `apimgw simulate` command.
package sim
