package logs

import "time"

// Record is one gateway request log line. Field names are the column names of
// Azure's ApiManagementGatewayLogs table so the same queries work on both.
// Times are milliseconds.
type Record struct {
	TimeGenerated       time.Time `json:"TimeGenerated"`
	CorrelationId       string    `json:"CorrelationId"`
	Method              string    `json:"Method"`
	Url                 string    `json:"Url"`
	ResponseCode        int       `json:"ResponseCode"`
	ResponseSize        int64     `json:"ResponseSize"`
	BackendMethod       string    `json:"BackendMethod,omitempty"`
	BackendUrl          string    `json:"BackendUrl,omitempty"`
	BackendResponseCode int       `json:"BackendResponseCode"`
	BackendTime         int64     `json:"BackendTime"`
	ClientTime          int64     `json:"ClientTime"`
	TotalTime           int64     `json:"TotalTime"`
	Cache               string    `json:"Cache"`
	CallerIpAddress     string    `json:"CallerIpAddress"`
	ApiId               string    `json:"ApiId,omitempty"`
	OperationId         string    `json:"OperationId,omitempty"`
	ProductId           string    `json:"ProductId,omitempty"`
	ApimSubscriptionId  string    `json:"ApimSubscriptionId,omitempty"`
	BackendId           string    `json:"BackendId,omitempty"`
	IsRequestSuccess    bool      `json:"IsRequestSuccess"`
	LastErrorReason     string    `json:"LastErrorReason,omitempty"`
	LastErrorMessage    string    `json:"LastErrorMessage,omitempty"`
	LastErrorSource     string    `json:"LastErrorSource,omitempty"`
	LastErrorSection    string    `json:"LastErrorSection,omitempty"`
	// LastErrorScope is the scope (global, product, api, operation) whose
	// policy raised the last error.
	LastErrorScope string `json:"LastErrorScope,omitempty"`
	// LastErrorDetail (apimgw's, not Azure's) is the underlying cause of a
	// last error raised by the connection to the backend, which APIM's
	// message does not tell apart: "connection refused", an expired
	// timeout, a TLS failure, or the gateway's own SNAT port budget
	// (snat.enforce) that refused the connection.
	LastErrorDetail string  `json:"LastErrorDetail,omitempty"`
	Errors          []Error `json:"Errors,omitempty"`
}

// The LastErrorDetail of a backend connection that apimgw's own SNAT port
// budget refused (snat.enforce) is "…: " + SNATExhaustedDetail, then
// SNATBudgetDetail in parentheses; apimgw diagnose recognises both. They
// are spelled here once, for the gateway that writes them and the
// diagnosis that reads them.
const (
	SNATExhaustedDetail = "snat port budget exhausted"
	SNATBudgetDetail    = "budget of %d ports, %d held"
)

// Error is one entry of the Errors column: every error raised while the
// request ran, in order (the last one is also in the LastError* columns).
type Error struct {
	Source  string `json:"Source"`
	Reason  string `json:"Reason"`
	Message string `json:"Message"`
	Section string `json:"Section"`
	Elapsed int64  `json:"Elapsed"`
}

// Cache column values.
const (
	CacheHit  = "hit"
	CacheMiss = "miss"
	CacheNone = "none"
)
