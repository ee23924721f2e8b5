// Package resilience holds the mechanisms that keep one failing backend from
// taking the gateway down with it: circuit breakers (Breaker), load-balanced
// backend pools with priority failover and session affinity (Pool), active
// health probes (HealthChecker), APIM retry schedules (RetryOptions) and retry
// budgets (RetryBudget), bulkheads for limit-concurrency and per-backend
// in-flight limits (Limiter), APIM's forward-request timeout (Forward), and
// the mapping of backend failures to APIM's error reasons and status codes
// (Classify). Registry assembles them per backend entity of gateway.yaml.
//
// The package makes decisions; it does not route requests. It takes plain
// option structs built from gateway.yaml and policy XML, an http.RoundTripper
// where it must send (health probes, Forward), and a Clock so timing is
// testable. The policy engine and gateway call it around forward-request.
package resilience
