package policy

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
	"github.com/apimgw/apimgw/internal/store"
)

// Azure-only policies: APIM policies that depend on an Azure service or on
// a part of APIM apimgw does not have. They are rejected at load time with
// the reason below instead of being ignored, so a migrated policy never
// runs with a check silently missing.

const (
	whySemantic = "it needs an Azure OpenAI embeddings deployment and an Azure Managed Redis vector index; use cache-lookup-value / cache-store-value with an exact key instead"
	whyGraphQL  = "apimgw does not host GraphQL APIs (synthetic GraphQL resolvers and schemas are an APIM service feature)"
	whyDapr     = "it needs the Dapr sidecar of a self-hosted gateway on Kubernetes; call the Dapr HTTP API with send-request instead"
)

func init() {
	register("llm-token-limit", []string{SectionInbound}, compileTokenLimit)
	register("azure-openai-token-limit", []string{SectionInbound}, compileTokenLimit)
	for name, why := range map[string]string{
		"azure-openai-semantic-cache-lookup": whySemantic,
		"azure-openai-semantic-cache-store":  whySemantic,
		"llm-semantic-cache-lookup":          whySemantic,
		"llm-semantic-cache-store":           whySemantic,
		"llm-content-safety":                 "it calls Azure AI Content Safety through an APIM backend; call your content-safety endpoint with send-request and return-response instead",
		"invoke-dapr-binding":                whyDapr,
		"publish-to-dapr":                    whyDapr,
		"send-service-bus-message":           "it sends through Azure Service Bus with the APIM instance's managed identity; use send-request to the Service Bus REST API instead",
		"set-graphql-resolver":               whyGraphQL,
		"http-data-source":                   whyGraphQL,
		"cosmosdb-data-source":               whyGraphQL,
		"sql-data-source":                    whyGraphQL,
		"validate-graphql-request":           whyGraphQL,
		"publish-event":                      whyGraphQL,
		"validate-odata-request":             "apimgw does not host OData APIs",
		"cross-domain":                       "it serves Flash/Silverlight crossdomain.xml documents from the gateway root, which apimgw does not route",
		"xsl-transform":                      "apimgw has no XSLT processor; transform XML bodies with set-body expressions or a liquid template",
	} {
		unsupported[name] = why
	}
}

// tokenLimit is llm-token-limit and azure-openai-token-limit: a sliding
// one-minute window of tokens (tokens-per-minute) and/or a fixed-period
// token quota per counter key, on the gateway's counter store. The request
// is admitted while the key has tokens left (or, with
// estimate-prompt-tokens, enough for the estimated prompt); the tokens the
// response reports in its usage object are counted when the response is
// final, so concurrent requests can overshoot the limit, as in APIM.
type tokenLimit struct {
	key         *expr.Value
	tpm         *expr.Value // tokens-per-minute; nil when absent
	quota       *expr.Value // token-quota; nil when absent
	quotaPeriod time.Duration
	estimate    bool

	retryAfterHeader, retryAfterVar     string
	remainingHeader, remainingVar       string
	remainingQuotaHeader, remainingQVar string
	consumedHeader, consumedVar         string
}

// tokenQuotaPeriods are token-quota-period's values. Months and years are
// fixed lengths (30 and 365 days) counted from 0001-01-01, not calendar
// months.
var tokenQuotaPeriods = map[string]time.Duration{
	"hourly": time.Hour, "daily": 24 * time.Hour, "weekly": 7 * 24 * time.Hour,
	"monthly": 30 * 24 * time.Hour, "yearly": 365 * 24 * time.Hour,
}

func compileTokenLimit(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "counter-key", "tokens-per-minute", "token-quota", "token-quota-period", "estimate-prompt-tokens",
		"retry-after-header-name", "retry-after-variable-name", "remaining-quota-tokens-header-name", "remaining-quota-tokens-variable-name",
		"remaining-tokens-header-name", "remaining-tokens-variable-name", "tokens-consumed-header-name", "tokens-consumed-variable-name")
	b.children(el)
	if !b.require(el, attrs, "counter-key") {
		return nil
	}
	t := &tokenLimit{
		key:                  b.value(attrs["counter-key"]),
		tpm:                  b.countValue(attrs["tokens-per-minute"]),
		quota:                b.countValue(attrs["token-quota"]),
		estimate:             b.constBool(attrs["estimate-prompt-tokens"], false),
		retryAfterHeader:     attrs["retry-after-header-name"].Value,
		retryAfterVar:        attrs["retry-after-variable-name"].Value,
		remainingHeader:      attrs["remaining-tokens-header-name"].Value,
		remainingVar:         attrs["remaining-tokens-variable-name"].Value,
		remainingQuotaHeader: attrs["remaining-quota-tokens-header-name"].Value,
		remainingQVar:        attrs["remaining-quota-tokens-variable-name"].Value,
		consumedHeader:       attrs["tokens-consumed-header-name"].Value,
		consumedVar:          attrs["tokens-consumed-variable-name"].Value,
	}
	if a, ok := attrs["token-quota-period"]; ok {
		p, known := tokenQuotaPeriods[strings.ToLower(a.Value)]
		if !known {
			b.errorf(a.ValuePos, "token-quota-period must be Hourly, Daily, Weekly, Monthly or Yearly, got %q", a.Value)
		}
		t.quotaPeriod = p
	}
	if (t.quota != nil) != (t.quotaPeriod > 0) {
		b.errorf(el.Pos, "<%s> token-quota and token-quota-period go together", el.Name)
	}
	if t.tpm == nil && t.quota == nil {
		b.errorf(el.Pos, "<%s> needs tokens-per-minute, or token-quota with token-quota-period", el.Name)
	}
	if t.key == nil {
		return nil
	}
	return t
}

// countValue compiles a non-negative count attribute (literal or
// expression); nil when the attribute is absent.
func (b *builder) countValue(a policyxml.Attr) *expr.Value {
	if a.Name == "" {
		return nil
	}
	v := b.value(a)
	if v != nil && v.IsConst() {
		if n, err := strconv.ParseInt(strings.TrimSpace(a.Value), 10, 64); err != nil || n < 0 {
			b.errorf(a.ValuePos, "attribute %q must be a non-negative integer, got %q", a.Name, a.Value)
		}
	}
	return v
}

// specs evaluates the limits for this request.
func (t *tokenLimit) specs(st *State) (store.RateSpec, store.QuotaSpec, error) {
	eval := func(v *expr.Value) (int64, error) {
		if v == nil {
			return 0, nil
		}
		s, err := v.String(&st.X)
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 0 {
			return 0, &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("llm-token-limit: token count must be a non-negative integer, got %q", s)}
		}
		return n, nil
	}
	tpm, err := eval(t.tpm)
	if err != nil {
		return store.RateSpec{}, store.QuotaSpec{}, err
	}
	quota, err := eval(t.quota)
	if err != nil {
		return store.RateSpec{}, store.QuotaSpec{}, err
	}
	return store.RateSpec{Limit: tpm, Period: time.Minute}, store.QuotaSpec{Calls: quota, Period: t.quotaPeriod}, nil
}

func (t *tokenLimit) setVar(st *State, name string, v int64) {
	if name == "" {
		return
	}
	if st.X.Variables == nil {
		st.X.Variables = expr.Variables{}
	}
	st.X.Variables[name] = int(v)
}

func (t *tokenLimit) setHeader(st *State, name string, v int64) {
	if name == "" {
		return
	}
	if st.ExtraHeaders == nil {
		st.ExtraHeaders = http.Header{}
	}
	st.ExtraHeaders.Set(name, strconv.FormatInt(v, 10))
}

func (t *tokenLimit) Run(st *State) error {
	s := st.Env.Services.Store
	if s == nil {
		return &Error{Reason: "StoreUnavailable", Message: "llm-token-limit: no counter store is configured"}
	}
	key, err := t.key.String(&st.X)
	if err != nil {
		return err
	}
	rate, quota, err := t.specs(st)
	if err != nil {
		return err
	}
	var est int64
	if t.estimate {
		est = estimatePromptTokens(st)
	}
	if t.tpm != nil {
		d, err := s.RateLimit(st.Ctx, "llm-tokens:"+key, rate, est)
		if err != nil {
			return &Error{Reason: "StoreUnavailable", Message: "llm-token-limit: counter store failed", Err: err}
		}
		t.setVar(st, t.remainingVar, d.Remaining)
		t.setHeader(st, t.remainingHeader, d.Remaining)
		if !d.Allowed {
			return t.refuse(st, http.StatusTooManyRequests, ReasonRateLimitExceeded,
				fmt.Sprintf("Token limit is exceeded. Try again in %d seconds.", d.RetryAfterSeconds()), d.RetryAfterSeconds())
		}
	}
	// A quota of 0 tokens refuses every call (QuotaSpec has no such value).
	if t.quota != nil && quota.Calls == 0 {
		return t.refuse(st, http.StatusForbidden, ReasonQuotaExceeded, "Token quota is exceeded.", 0)
	}
	if t.quota != nil {
		d, err := s.Quota(st.Ctx, "llm-token-quota:"+key, quota, est)
		if err != nil {
			return &Error{Reason: "StoreUnavailable", Message: "llm-token-limit: counter store failed", Err: err}
		}
		t.setVar(st, t.remainingQVar, d.CallsRemaining)
		t.setHeader(st, t.remainingQuotaHeader, d.CallsRemaining)
		if !d.Allowed {
			msg := "Token quota is exceeded."
			if secs := d.RetryAfterSeconds(); secs > 0 {
				msg += " Try again in " + timeSpan(secs) + "."
			}
			return t.refuse(st, http.StatusForbidden, ReasonQuotaExceeded, msg, d.RetryAfterSeconds())
		}
	}
	t.setVar(st, t.consumedVar, est)
	deferToResponse(st, func(st *State) { t.count(st, s, key, est, rate, quota) })
	return nil
}

func (t *tokenLimit) refuse(st *State, status int, reason, msg string, retryAfter int64) error {
	t.setVar(st, t.retryAfterVar, retryAfter)
	header := t.retryAfterHeader
	if header == "" {
		header = "Retry-After"
	}
	e := &Error{Reason: reason, Message: msg, ClientMessage: msg, Status: status}
	if retryAfter > 0 {
		e.Headers = map[string]string{header: strconv.FormatInt(retryAfter, 10)}
	}
	return e
}

// count adds the tokens the response reports (less the estimate already
// counted) to the key's window and quota.
func (t *tokenLimit) count(st *State, s store.Store, key string, est int64, rate store.RateSpec, quota store.QuotaSpec) {
	resp := st.X.Response
	if resp == nil || resp.Body == nil || resp.StatusCode >= 300 {
		return
	}
	total := est
	if mt := resp.Headers.Get("Content-Type"); !strings.HasPrefix(mt, "text/event-stream") {
		if data, err := resp.Body.Bytes(); err == nil {
			if _, _, tot, ok := tokenUsage(data); ok {
				total = int64(tot)
			}
		}
	}
	t.setVar(st, t.consumedVar, total)
	if t.consumedHeader != "" {
		resp.Headers.Set(t.consumedHeader, strconv.FormatInt(total, 10))
	}
	n := total - est
	if n <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(st.Ctx), 5*time.Second)
	defer cancel()
	var err error
	if t.tpm != nil {
		_, err = s.RateCount(ctx, "llm-tokens:"+key, rate, n)
	}
	if t.quota != nil && err == nil {
		_, err = s.QuotaCount(ctx, "llm-token-quota:"+key, quota, n, 0)
	}
	if err != nil && st.Env.Log != nil {
		st.Env.Log.Warn("llm-token-limit: tokens not counted", "key", key, "tokens", n, "error", err.Error())
	}
}

// estimatePromptTokens estimates the prompt's tokens from the request body:
// about four bytes of text per token, the usual rule of thumb for English
// text with OpenAI tokenizers. The body stays readable for forwarding.
func estimatePromptTokens(st *State) int64 {
	b := st.X.Request.Body
	if b == nil {
		return 0
	}
	data, err := b.Bytes()
	if err != nil {
		return 0
	}
	return int64(len(data)+3) / 4
}

// timeSpan renders whole seconds as .NET's TimeSpan "c" format
// ([d.]hh:mm:ss), as APIM's quota messages do.
func timeSpan(secs int64) string {
	d, rem := secs/86400, secs%86400
	hms := fmt.Sprintf("%02d:%02d:%02d", rem/3600, rem%3600/60, rem%60)
	if d > 0 {
		return fmt.Sprintf("%d.%s", d, hms)
	}
	return hms
}
