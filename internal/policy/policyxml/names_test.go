package policyxml

// policyElements are the APIM policy element names (the policy reference plus
// the ones seen in the corpus), used to check where snippets start.
var policyElements = nameSet(
	[]string{
		"authentication-basic", "authentication-certificate", "authentication-managed-identity",
		"azure-openai-emit-token-metric", "azure-openai-semantic-cache-lookup", "azure-openai-semantic-cache-store",
		"azure-openai-token-limit", "base", "cache-lookup", "cache-lookup-value", "cache-remove-value", "cache-store",
		"cache-store-value", "cache-value", "check-header", "choose", "cors", "cosmosdb-data-source", "cross-domain",
		"emit-metric", "find-and-replace", "forward-request", "get-authorization-context", "http-data-source",
		"include-fragment", "invoke-dapr-binding", "invoke-darp-binding", "ip-filter", "json-to-xml", "jsonp",
		"limit-concurrency", "llm-content-safety", "llm-emit-token-metric", "llm-semantic-cache-lookup",
		"llm-semantic-cache-store", "llm-token-limit", "log-to-eventhub", "mock-response", "proxy", "publish-event",
		"publish-to-dapr", "publish-to-darp", "quota", "quota-by-key", "rate-limit", "rate-limit-by-key",
		"redirect-content-urls", "retry", "return-response", "rewrite-uri", "send-one-way-request", "send-request",
		"send-service-bus-message", "set-backend-service", "set-body", "set-graphql-resolver", "set-header",
		"set-method", "set-query-parameter", "set-status", "set-variable", "sql-data-source", "trace",
		"validate-azure-ad-token", "validate-client-certificate", "validate-content", "validate-graphql-request",
		"validate-headers", "validate-jwt", "validate-odata-request", "validate-parameters", "validate-status-code",
		"wait", "xml-to-json", "xsl-transform",
	},
)

func nameSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
