package policy

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/routers"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/store"
)

// Section names as APIM reports them in context.LastError.Section.
const (
	SectionInbound  = "inbound"
	SectionBackend  = "backend"
	SectionOutbound = "outbound"
	SectionOnError  = "on-error"
)

// BackendEntity is a configured backend (SPEC §2 backends) as the engine sees
// it: where set-backend-service backend-id="..." sends requests.
type BackendEntity struct {
	ID  string
	URL *url.URL
	// Header and Query are credentials added to every call.
	Header map[string]string
	Query  map[string]string
	// Select picks the concrete member for one request when the entity is a
	// pool (nil for a single backend); it returns the member entity and a
	// function to report the outcome, or an *Error (e.g. circuit open).
	Select func(st *State) (*BackendEntity, func(Outcome), error)
	// Admit is the single backend's gate (circuit breaker, in-flight limit);
	// nil admits everything.
	Admit func(st *State) (func(Outcome), error)
	// Budget bounds retries to this backend (nil: unbounded).
	Budget RetryBudget
	// ClientCert is the TLS client certificate of the backend's
	// credentials, presented unless authentication-certificate chose
	// another; nil: none.
	ClientCert *backend.ClientCert
	// Proxy is the backend's HTTP proxy, used unless the proxy policy
	// chose another; nil: none.
	Proxy *backend.Proxy
}

// RetryBudget is a backend's retry budget: Request counts a first attempt,
// Retry says whether one more retry is allowed.
type RetryBudget interface {
	Request()
	Retry() bool
}

// Outcome is what one backend call produced, fed back to breakers.
type Outcome struct {
	StatusCode  int
	ErrorReason string
	RetryAfter  time.Duration
}

// Env is what compiled steps need from the running gateway. It is shared by
// all requests and must be safe for concurrent use.
type Env struct {
	// Transport sends requests to backends (the outbound connection manager).
	Transport http.RoundTripper
	// Backends resolves backend-id references.
	Backends map[string]*BackendEntity
	Log      *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Services holds the optional subsystems (store, metrics) steps use.
	Services Services
	// Redactor strips secrets from URLs steps log; nil strips the
	// default subscription key parameter.
	Redactor *logs.Redactor
}

// Services are optional subsystems used by some policies; a nil field means
// the subsystem is absent and those policies report an error when used.
type Services struct {
	// Trace receives the trace policy's messages (source, severity, message).
	Trace func(st *State, source, severity, message string, metadata map[string]string)
	// Registerer is where emit-metric registers its custom metrics.
	Registerer prometheus.Registerer
	// Loggers are log-to-eventhub sinks by logger-id; each write is one
	// message and must be safe for concurrent use.
	Loggers map[string]io.Writer
	// Background counts work that outlives its request
	// (send-one-way-request), so shutdown can wait for it; may be nil.
	Background *sync.WaitGroup
	// Store holds rate-limit and quota counters and the value cache.
	Store store.Store
	// Responses is the response cache (cache-lookup / cache-store) on Store.
	Responses *store.ResponseCache
	// Token returns an access token for authentication-managed-identity
	// (the local equivalent of an Azure managed identity).
	Token func(ctx context.Context, resource, clientID string) (string, error)
	// Certificates are the client certificates authentication-certificate
	// can present.
	Certificates *Certificates
	// TrustRoots are the authorities validate-client-certificate trusts:
	// the system's and the configured CA certificates. Nil: the system's
	// and the CA certificates among context.Deployment.Certificates.
	TrustRoots *x509.CertPool
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// State is one request's run through a pipeline.
type State struct {
	drain io.LimitedReader // Close's reader of an unread backend body (no allocation)
	probe [1]byte          // Close's first read of it
	Ctx   context.Context
	Env   *Env
	// X is the object model policy expressions see as `context`.
	X expr.Context

	// ClientHost is the Host header as the client sent it ("host:port").
	ClientHost string

	// PresentedKey is the subscription key the request carried (valid or
	// not), which trace output must not repeat.
	PresentedKey string
	// APIPath is the API's path prefix ("orders"), used to compute the path
	// sent to the backend from X.Request.Url.
	APIPath string
	// Backend is where forward-request sends: the base URL (from the API's
	// serviceUrl or set-backend-service) and the backend entity if one.
	BackendURL    *url.URL
	BackendEntity *BackendEntity
	// ClientCert is the TLS client certificate forward-request presents
	// (authentication-certificate); nil: the backend's own, if any.
	ClientCert *backend.ClientCert
	// Proxy is the HTTP proxy forward-request goes through (the proxy
	// policy); nil: none.
	Proxy *backend.Proxy
	// Conn, when set, is the client connection's storage that
	// forward-request reuses (see ConnStorage). The gateway sets it only
	// where it outlives everything that may still read the response: on a
	// connection of its own server, whose next request is the only one to
	// reuse it.
	Conn *ConnStorage

	// Spec is the operation's OpenAPI definition (from the API's openapi
	// file), which the validate-* policies check messages against; nil when
	// the API has none.
	Spec *SpecOperation
	// TemplateQuery lists the query parameter names the operation's URL
	// template matched (rewrite-uri does not copy them).
	TemplateQuery []string

	// Section is the section running now.
	Section string
	// Responded is set when a policy produced the final response.
	Responded bool
	// BackendCalled, BackendStatus, BackendTime and BackendURLUsed describe
	// the last forward-request, for the log line and metrics.
	BackendCalled  bool
	BackendStatus  int
	BackendTime    time.Duration
	BackendURLUsed string
	BackendMethod  string
	BackendID      string
	// ExtraHeaders are added to whatever response the client gets (e.g. a
	// pool's session-affinity cookie).
	ExtraHeaders http.Header
	// Retrying is set while a retry policy runs its children, so
	// forward-request counts first attempts against the retry budget only.
	Retrying bool
	// Errors lists every error raised, in order.
	Errors []*Error
	// Cache is the Cache column: "hit", "miss" or "none".
	Cache string

	// backendResp is the live response whose body is still streaming.
	backendResp *http.Response
	// upgraded is the backend connection of a 101 Switching Protocols
	// answer (a WebSocket) until the gateway takes it; UpgradeProtocol is
	// that answer's Upgrade header.
	upgraded        io.ReadWriteCloser
	UpgradeProtocol string
	// streamBody is set by forward-request buffer-response="false".
	streamBody  bool
	backendBody *expr.Body
	// fill is the response cache entry this request fills (cache-lookup
	// miss → cache-store).
	fill *cacheFill
	// forwarded is set once forward-request added X-Forwarded-* headers.
	forwarded bool
	// building is the response return-response is building.
	building *expr.Response
	// beforeSend run on the final response before it is written (CORS
	// headers, token counting); see FinishResponse.
	beforeSend []func(st *State)
	// deferred run after the response was sent.
	deferred []func(respBytes int64)
	// reqBody and reqBodyLen are the client's body as received and its
	// declared length (-1 unknown), to forward it without buffering.
	reqBody    *expr.Body
	reqBodyLen int64
	// reqTrailer is the client's request trailer (filled once its body
	// has been read), forwarded with that body.
	reqTrailer http.Header
}

// Defer registers f to run once the response has been sent, with the
// number of response body bytes written (counting that depends on the
// outcome: increment-condition, bandwidth quotas, cache fills).
func (st *State) Defer(f func(respBytes int64)) { st.deferred = append(st.deferred, f) }

// Finish runs the deferred functions; the gateway calls it after writing
// the response.
func (st *State) Finish(respBytes int64) {
	for _, f := range st.deferred {
		f(respBytes)
	}
	st.deferred = nil
}

// StreamBackendBody reports whether the response still carries the body
// of a backend call made with buffer-response="false": each chunk the
// backend sends is to reach the client at once (server-sent events, say).
func (st *State) StreamBackendBody() bool {
	return st.streamBody && st.carriesBackendBody()
}

// carriesBackendBody reports whether the response is still the backend's
// body, not one a policy set.
func (st *State) carriesBackendBody() bool {
	return st.backendBody != nil && st.X.Response != nil && st.X.Response.Body == st.backendBody
}

// BackendTrailer returns the trailer of the backend response whose body
// the final response still carries, or nil (no backend call, or a policy
// replaced the response or its body). It is complete once that body has
// been read to its end.
func (st *State) BackendTrailer() http.Header {
	if st.backendResp == nil || !st.carriesBackendBody() {
		return nil
	}
	return st.backendResp.Trailer
}

// TakeUpgraded hands over the backend connection of a 101 Switching
// Protocols answer (nil if there is none): the caller relays it and closes
// it.
func (st *State) TakeUpgraded() io.ReadWriteCloser {
	u := st.upgraded
	st.upgraded = nil
	return u
}

// SpecOperation is an operation of an API's OpenAPI document.
type SpecOperation struct {
	Route *routers.Route
}

// SetRequestBody installs the client's request body (nil for none) with its
// declared Content-Length (-1 when unknown).
func (st *State) SetRequestBody(b *expr.Body, contentLength int64) {
	st.X.Request.Body = b
	st.reqBody, st.reqBodyLen = b, contentLength
}

// SetRequestTrailer gives the client's request trailer (http.Request's
// Trailer: the announced names at first, their values once the body has
// been read). forward-request sends it after the body while the body it
// forwards is still the client's.
func (st *State) SetRequestTrailer(t http.Header) { st.reqTrailer = t }

// requestBodyLen is the length of the body forward-request sends: the
// declared length for the untouched client stream, the buffered length
// otherwise, 0 when an expression consumed it.
func (st *State) requestBodyLen() int64 {
	b := st.X.Request.Body
	switch {
	case b == nil || b.Consumed():
		return 0
	case b == st.reqBody:
		return st.reqBodyLen
	}
	data, err := b.Bytes()
	if err != nil {
		return -1
	}
	return int64(len(data))
}

// ResponseBodyLen is the length of the response body to send: the backend's
// declared length while its body is untouched, else the buffered length;
// -1 when unknown (the body is streamed chunked).
func (st *State) ResponseBodyLen() int64 {
	resp := st.X.Response
	if resp == nil || resp.Body == nil || resp.Body.Consumed() {
		return 0
	}
	if st.backendResp != nil && st.backendBody == resp.Body {
		return st.backendResp.ContentLength
	}
	data, err := resp.Body.Bytes()
	if err != nil {
		return -1
	}
	return int64(len(data))
}

// NewState prepares a State for one request.
func NewState(ctx context.Context, env *Env) *State {
	return &State{Ctx: ctx, Env: env, Cache: "none", X: expr.Context{Variables: expr.Variables{}}}
}

// maxReusedVariables bounds the Variables map Reset keeps: clearing a map
// costs as much as its largest size, so a request that set many variables
// does not make every later one pay for them.
const maxReusedVariables = 32

// Reset empties a State that a finished request used (its Close called)
// so that another request can use it once given its Ctx and Env: as
// NewState, keeping the Variables map (emptied) when small. Nothing of the
// previous request may still refer to st.
func (st *State) Reset() {
	vars := st.X.Variables
	if vars == nil || len(vars) > maxReusedVariables {
		vars = expr.Variables{}
	} else {
		clear(vars)
	}
	*st = State{Cache: "none", X: expr.Context{Variables: vars}}
}

// LastError returns the last error raised, or nil.
func (st *State) LastError() *Error {
	if len(st.Errors) == 0 {
		return nil
	}
	return st.Errors[len(st.Errors)-1]
}

// Close releases what the request still holds (an unread backend body).
func (st *State) Close() {
	if st.upgraded != nil {
		st.upgraded.Close()
		st.upgraded = nil
	}
	if st.backendResp != nil {
		// Most often the body was read to its end: one small read tells,
		// without io.Copy's buffer from a pool.
		body := st.backendResp.Body
		if n, err := body.Read(st.probe[:]); err == nil {
			st.drain = io.LimitedReader{R: body, N: 64<<10 - int64(n)}
			io.Copy(io.Discard, &st.drain)
		}
		body.Close()
		st.backendResp = nil
	}
}
