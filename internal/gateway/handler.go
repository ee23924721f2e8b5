package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/httplex"
	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/metrics"
	"github.com/apimgw/apimgw/internal/policy"
	"github.com/apimgw/apimgw/internal/swar"
)

// APIM's messages for requests the gateway rejects itself.
const (
	msgNotFound   = "Resource not found"
	msgMissingKey = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
	msgInvalidKey = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
	msgBadPath    = "Invalid request path"
	msgTooLarge   = "Request entity too large"
)

// ServeHTTP handles one data-plane request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := g.now()
	g.metrics.InFlight.Inc()
	defer g.metrics.InFlight.Dec()
	plan := g.plan.Load()

	x, slot := g.exchange(w)
	st := &x.st
	st.Ctx, st.Env = r.Context(), plan.env // the rest was reset by release
	if slot != nil {
		// The connection's own storage: its next request, the only one to
		// use it again, starts after this response is written out.
		x.conn.Begin()
		st.Conn = &x.conn
	}
	finished := false
	defer func() {
		st.Close()
		if finished { // not after a panic: whatever failed may still hold x
			x.release()
			if slot != nil {
				*slot = x
			} else {
				g.exchanges.Put(x)
			}
		}
	}()
	st.X.RequestId = newRequestID()
	st.X.Timestamp = start.UTC()
	st.X.Deployment = plan.deployment
	st.ClientHost = r.Host
	st.X.Clock = plan.env.Now
	rec := &x.rec
	*rec = logs.Record{TimeGenerated: start.UTC(), CorrelationId: st.X.RequestId, Method: r.Method, Cache: logs.CacheNone}
	ip := x.clientIP(r)
	rec.CallerIpAddress = ip

	pathOK := cleanRequestURL(r.URL)
	reqURL := &x.url
	requestURL(reqURL, &x.query, r)
	reqURL.CloneInto(&x.orig, &x.origQuery)
	x.req = expr.Request{
		Method:            r.Method,
		Url:               reqURL,
		OriginalUrl:       &x.orig,
		Headers:           r.Header,
		IpAddress:         ip,
		MatchedParameters: x.params,
	}
	st.X.Request = &x.req
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		st.X.Request.Certificate = r.TLS.PeerCertificates[0]
	}
	var upgradeTo string
	var upgrade bool
	if f, ok := requestFields(w, r); !ok || httplex.DropConnectionOnly(r.Header, f) != 0 {
		// (Unless the server saw no hop-by-hop field in the head, or
		// only a Connection about keep-alive, which is gone now: then
		// there is neither an upgrade nor anything else to remove.)
		upgradeTo, upgrade = isUpgrade(r.Header)
		policy.RemoveHopHeaders(r.Header)
	}
	if r.Body != nil && r.Body != http.NoBody {
		// The client's request trailer is not forwarded (as nginx): fields
		// after the body escape every check made on the head (a key, an
		// Authorization), and backends rarely expect them.
		x.body = limitedBody{rc: r.Body}
		st.SetRequestBody(expr.NewRequestBody(&x.body, 0), r.ContentLength)
	}

	var api *apiPlan
	var apiPath string
	var op *opPlan
	if pathOK {
		var rest string
		api, rest, apiPath = plan.router.matchRequest(r.URL.Path, reqURL.Query, r.Header)
		if api != nil {
			op = api.matchOperation(r.Method, rest, st.X.Request.MatchedParameters)
		}
	}
	var pipeline *policy.Pipeline
	wsHandshake := false
	switch {
	case !pathOK:
		// Dot-segments above the root, or hidden between backslashes.
		st.X.Response = policy.ErrorResponse(http.StatusBadRequest, msgBadPath, st.X.RequestId)
		rec.LastErrorMessage = "The request path has a dot-segment above the root, or one between backslashes."
	case api != nil && policy.IsPreflight(r.Method, r.Header) && api.apiPipeline.HandlesPreflight():
		// A CORS preflight for an API whose policy has cors: APIM answers it
		// without a subscription key, even when no OPTIONS operation exists.
		rec.ApiId = api.cfg.ID
		st.APIPath = apiPath
		st.X.Api = api.expr
		st.BackendURL, st.BackendEntity = api.serviceURL, api.backend
		p := api.apiPipeline
		if op != nil {
			rec.OperationId = op.cfg.ID
			st.X.Operation = op.expr
			p = op.pipeline
		}
		p.Run(st)
	case api == nil || op == nil:
		st.X.Response = policy.ErrorResponse(http.StatusNotFound, msgNotFound, st.X.RequestId)
		rec.LastErrorReason, rec.LastErrorMessage = policy.ReasonOperationNotFound, "Unable to match incoming request to an operation."
		if api != nil {
			rec.ApiId = api.cfg.ID
		}
	default:
		rec.ApiId, rec.OperationId = api.cfg.ID, op.cfg.ID
		st.APIPath = apiPath
		st.TemplateQuery = op.queryKeys
		st.Spec = op.spec
		st.X.Api, st.X.Operation = api.expr, op.expr
		st.BackendURL, st.BackendEntity = api.serviceURL, api.backend
		for _, q := range op.tmpl.query {
			if q.param != "" {
				if v, ok := st.X.Request.Url.Query.Get(q.name); ok {
					st.X.Request.MatchedParameters[q.param] = v
				}
			}
		}
		if b := st.X.Request.Body; b != nil {
			b.SetLimit(op.bufferedLimit)
			x.body.limit = op.requestLimit
			if op.requestLimit > 0 && r.ContentLength > op.requestLimit {
				// Refused before a byte of it is read.
				api.apiPipeline.OnError(st, &policy.Error{Source: "gateway", Reason: policy.ReasonRequestEntityTooLarge,
					Message: "The request body is larger than the limit", Section: policy.SectionInbound,
					Status: http.StatusRequestEntityTooLarge, ClientMessage: msgTooLarge})
				break
			}
		}
		sub, reason := g.subscription(plan, api, r, st)
		if reason != "" {
			msg := msgInvalidKey
			if reason == policy.ReasonSubscriptionKeyNotFound {
				msg = msgMissingKey
			}
			api.apiPipeline.OnError(st, &policy.Error{Source: "subscription", Reason: reason, Message: msg, Section: policy.SectionInbound, Status: http.StatusUnauthorized, ClientMessage: msg})
			break
		}
		productID := ""
		if sub != nil {
			rec.ApimSubscriptionId = sub.cfg.ID
			st.X.Subscription = sub.expr
			if sub.product != nil {
				productID = sub.product.ID
				rec.ProductId = productID
				st.X.Product = sub.exprPrd
			}
		}
		pipeline = op.pipeline
		if productID != "" {
			if p := op.pipelines[productID]; p != nil {
				pipeline = p
			}
		}
		if wsHandshake = api.websocket && upgrade; wsHandshake {
			// The opening handshake is forwarded as a handshake.
			r.Header["Connection"] = []string{"Upgrade"}
			r.Header["Upgrade"] = []string{upgradeTo}
		}
		pipeline.Run(st)
	}

	policy.FinishResponse(st)
	var n int64
	var clientErr, backendErr error
	switch up := st.TakeUpgraded(); {
	case up != nil && wsHandshake && st.X.Response != nil && st.X.Response.StatusCode == http.StatusSwitchingProtocols:
		n, _, clientErr = g.relay(w, st, up)
	default:
		if up != nil {
			up.Close() // a policy answered otherwise, or nobody asked to switch
		}
		if st.X.Response != nil && st.X.Response.StatusCode == http.StatusSwitchingProtocols {
			// A backend switching protocols unasked cannot be relayed.
			st.X.Response = policy.ErrorResponse(http.StatusBadGateway, "Bad Gateway", st.X.RequestId)
			rec.LastErrorReason, rec.LastErrorMessage = policy.ReasonBackendConnectionFailure, "The server committed a protocol violation. Section=ResponseStatusLine"
		}
		n, clientErr, backendErr = g.writeResponse(w, st)
	}
	st.Finish(n)
	end := g.now()
	// The log shows the URL the client called, without the subscription
	// key (under any name an API gives it, in any casing, whether or not
	// the path matched an API) or another secret.
	logURL := redactURL(plan.redact, st.X.Request.OriginalUrl)
	g.finishRecord(rec, st, logURL, n, clientErr, start, end)
	if rec.BackendUrl != "" {
		rec.BackendUrl = plan.redact.URL(rec.BackendUrl)
	}
	if backendErr != nil {
		// The backend's body broke after its head went out: the failure
		// is the backend's, with the bytes the client got.
		e := logs.Error{Source: "forward-request", Reason: policy.ReasonBackendConnectionFailure, Message: backend.MsgClosedOnReceive, Section: policy.SectionOutbound}
		if be := (*backend.Error)(nil); errors.As(backendErr, &be) && be.Reason != backend.ReasonClientConnectionFailure {
			e.Reason, e.Message = be.Reason, be.Message
		}
		rec.Errors = append(rec.Errors, e)
		rec.LastErrorReason, rec.LastErrorMessage, rec.LastErrorSource, rec.LastErrorSection = e.Reason, e.Message, e.Source, e.Section
		rec.LastErrorDetail = backendErr.Error()
		rec.IsRequestSuccess = false
	}
	g.logs.Write(rec)
	g.observe(op, rec, st, start, end)
	finished = true
	if backendErr != nil {
		// The client must see the failure: the connection is cut without
		// the body's end (no terminating chunk; short of Content-Length),
		// as nginx does, never presented as complete.
		panic(http.ErrAbortHandler)
	}
}

// exchange is the gateway's storage for one request: the policy state, the
// log record and context.Request, reused so that a request does not
// allocate them. Nothing may refer to it once ServeHTTP returns: the log
// record is written out and the state's values copied by then. On a
// connection of apimgw's own server it is the connection's, reused by its
// requests in turn, and it also holds the backend response and call
// (conn). On other servers it comes from a pool and conn is not used: the
// server may still read the response's headers after ServeHTTP returns,
// while another request reuses the exchange.
type exchange struct {
	st               policy.State
	rec              logs.Record
	req              expr.Request
	url, orig        expr.URL
	query, origQuery expr.Query
	params           map[string]string // MatchedParameters, cleared
	conn             policy.ConnStorage
	body             limitedBody // the request body, within its operation's limit
	// The client address of the last request and its IP: a connection's
	// requests have the same (net/http's and apimgw's server give them
	// the same string, whose storage the connection holds anyway).
	remoteAddr, ip string
}

// limitedBody is a request body that fails with http.MaxBytesError once
// more than limit bytes (when limit > 0) have been read from it.
type limitedBody struct {
	rc    io.ReadCloser
	n     int64
	limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.limit > 0 && b.n >= b.limit {
		// One byte more tells a body of exactly the limit from a
		// larger one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, &http.MaxBytesError{Limit: b.limit}
		}
		return 0, err
	}
	if b.limit > 0 && int64(len(p)) > b.limit-b.n {
		p = p[:b.limit-b.n]
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// requestFields returns which of httplex.Fields r's head had, when the
// server (httpserver's) knows them for r's header map as it is.
func requestFields(w http.ResponseWriter, r *http.Request) (httplex.Fields, bool) {
	if rf, ok := w.(interface {
		RequestFields(http.Header) (httplex.Fields, bool)
	}); ok {
		return rf.RequestFields(r.Header)
	}
	return 0, false
}

// headerReplacer is a ResponseWriter that can take a header map for the
// response in place of its own (httpserver's).
type headerReplacer interface{ ReplaceHeader(http.Header) bool }

// connValuer is a ResponseWriter with a per-connection slot
// (httpserver's).
type connValuer interface{ ConnValue() *any }

// exchange returns the request's storage: the connection's, with its slot
// (empty until the request gives the storage back, so that after a panic
// the connection keeps none), or one from the pool and a nil slot.
func (g *Gateway) exchange(w http.ResponseWriter) (*exchange, *any) {
	cv, ok := w.(connValuer)
	if !ok {
		return g.exchanges.Get().(*exchange), nil
	}
	slot := cv.ConnValue()
	x, ok := (*slot).(*exchange)
	if !ok {
		x = newExchange().(*exchange)
	}
	*slot = nil
	return x, slot
}

func newExchange() any {
	x := &exchange{params: map[string]string{}}
	x.st.Reset()
	return x
}

// release drops what x's last request referred to, so that the pool does
// not keep it alive, and makes x ready for the next one.
func (x *exchange) release() {
	if len(x.params) > maxReusedParams {
		x.params = map[string]string{}
	} else {
		clear(x.params)
	}
	// The log record and the URLs are overwritten whole by the next
	// request; what could hold much (the state's bodies, the request's
	// header map, the queries' slices) is let go now.
	x.req = expr.Request{}
	x.query, x.origQuery = expr.Query{}, expr.Query{}
	x.conn.Release()
	x.body = limitedBody{}
	x.st.Reset()
}

// maxReusedParams bounds the MatchedParameters map an exchange keeps.
const maxReusedParams = 16

// subscription finds the request's subscription and strips the key from the
// request. reason is non-empty when the request must be rejected.
func (g *Gateway) subscription(plan *Plan, api *apiPlan, r *http.Request, st *policy.State) (*subscriptionPlan, string) {
	key := httplex.First(r.Header, api.headerName) // headerName is canonical
	delete(r.Header, api.headerName)
	q := st.X.Request.Url.Query
	if key == "" {
		key, _ = q.Get(api.queryName)
	}
	q.Del(api.queryName)
	st.PresentedKey = key
	if key == "" {
		if api.requireSub {
			return nil, policy.ReasonSubscriptionKeyNotFound
		}
		return nil, ""
	}
	sub := plan.subs[sha256.Sum256([]byte(key))]
	valid := sub != nil && subtle.ConstantTimeCompare([]byte(sub.key), []byte(key)) == 1 &&
		sub.cfg.State == "active" && (sub.cfg.AllAPIs || sub.cfg.API == api.cfg.ID || sub.product != nil && api.products[sub.product.ID])
	if !valid {
		if api.requireSub {
			return nil, policy.ReasonSubscriptionKeyInvalid
		}
		return nil, ""
	}
	return sub, ""
}

// writeResponse sends st's response and returns the body bytes written,
// and the error writing to the client or reading the body's source (the
// backend) returned.
func (g *Gateway) writeResponse(w http.ResponseWriter, st *policy.State) (int64, error, error) {
	resp := st.X.Response
	length := st.ResponseBodyLen()
	// sameLength: the backend's Content-Length is the body's, and goes out
	// as it is.
	backendLength, hasLength := resp.Headers["Content-Length"]
	sameLength := false
	if length >= 0 {
		n, ok := httplex.ParseContentLength(firstOf(backendLength))
		sameLength = ok && n == length && len(backendLength) == 1
	}
	var h http.Header
	keepLength := false // the handed-over map's Content-Length stays
	if hr, ok := w.(headerReplacer); ok && st.ResponseHeaderOwned() && hr.ReplaceHeader(resp.Headers) {
		// The backend response's map, which nothing else uses, becomes the
		// response's as it is: the same fields as the copy below makes.
		h = resp.Headers
		keepLength = sameLength && len(st.ExtraHeaders) == 0
		if hasLength && !keepLength {
			delete(h, "Content-Length") // as the copy, which leaves it out
		}
	} else {
		h = w.Header()
		for k, v := range resp.Headers {
			if k != "Content-Length" {
				h[k] = v
			}
		}
	}
	for k, v := range st.ExtraHeaders {
		h[k] = append(h[k], v...)
	}
	if length >= 0 && !keepLength {
		if sameLength {
			h["Content-Length"] = backendLength // the backend's own value, unchanged
		} else {
			h["Content-Length"] = []string{strconv.FormatInt(length, 10)}
		}
	}
	w.WriteHeader(resp.StatusCode)
	if resp.Body == nil || length == 0 || st.X.Request.Method == http.MethodHead {
		return 0, nil, nil
	}
	buf := g.bufs.Get().(*[]byte)
	defer g.bufs.Put(buf)
	var flush func() error
	if st.StreamBackendBody() {
		// buffer-response="false": every chunk goes out as it comes.
		if f, ok := w.(http.Flusher); ok {
			flush = func() error { f.Flush(); return nil }
		} else {
			flush = http.NewResponseController(w).Flush
		}
	}
	// A body of known length has no trailer to follow it: its last chunk
	// can go out with the end of the response, as the handler returns
	// (the server then writes it and waits for the next request at once).
	// A body that may end in a trailer must have the response's head out
	// before its end, for the response to be chunked and carry it.
	n, rerr, werr := copyBody(w, resp.Body.Reader(), *buf, flush, length < 0)
	if rerr != nil && st.Ctx.Err() != nil {
		werr, rerr = rerr, nil // the client went away, which stopped the read
	}
	if rerr != nil {
		// What arrived goes out, head included, before the connection is
		// cut: the client sees how far the answer got.
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		} else {
			_ = http.NewResponseController(w).Flush()
		}
	}
	if rerr == nil && werr == nil {
		// The backend's trailer (gRPC's status, for one) follows the body,
		// where the response is framed to carry one.
		for k, v := range st.BackendTrailer() {
			if len(v) > 0 && !forbiddenTrailer(k) {
				h[http.TrailerPrefix+k] = v
			}
		}
	}
	return n, werr, rerr
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// copyBody copies src to w through buf, calling flush (when not nil)
// after every chunk, the last one only with flushLast. It is io.CopyBuffer without the interface values that
// would cost allocations on every response; unlike it, it tells the
// source's error (rerr) from the writer's (werr).
func copyBody(w io.Writer, src io.Reader, buf []byte, flush func() error, flushLast bool) (n int64, rerr, werr error) {
	for {
		nr, err := src.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			n += int64(nw)
			if werr == nil && nw < nr {
				werr = io.ErrShortWrite
			}
			if werr == nil && flush != nil && (err != io.EOF || flushLast) {
				werr = flush()
			}
			if werr != nil {
				return n, nil, werr
			}
		}
		if err == io.EOF {
			return n, nil, nil
		}
		if err != nil {
			return n, err, nil
		}
	}
}

func (g *Gateway) finishRecord(rec *logs.Record, st *policy.State, u *expr.URL, n int64, clientErr error, start, end time.Time) {
	resp := st.X.Response
	rec.Url = u.String()
	rec.ResponseCode = resp.StatusCode
	rec.ResponseSize = n
	rec.Cache = st.Cache
	if st.BackendCalled {
		rec.BackendMethod = st.BackendMethod
		rec.BackendUrl = st.BackendURLUsed
		rec.BackendResponseCode = st.BackendStatus
		rec.BackendTime = st.BackendTime.Milliseconds()
		rec.BackendId = st.BackendID
	}
	rec.TotalTime = end.Sub(start).Milliseconds()
	rec.ClientTime = rec.TotalTime - rec.BackendTime
	for _, e := range st.Errors {
		rec.Errors = append(rec.Errors, logs.Error{Source: e.Source, Reason: e.Reason, Message: e.Message, Section: e.Section, Elapsed: e.Elapsed.Milliseconds()})
	}
	if clientErr != nil {
		rec.Errors = append(rec.Errors, logs.Error{Source: "gateway", Reason: policy.ReasonClientConnectionFailure, Message: clientErr.Error(), Section: "outbound"})
	}
	if len(rec.Errors) > 0 {
		last := rec.Errors[len(rec.Errors)-1]
		rec.LastErrorReason, rec.LastErrorMessage, rec.LastErrorSource, rec.LastErrorSection = last.Reason, last.Message, last.Source, last.Section
	}
	if n := len(st.Errors); n > 0 && clientErr == nil {
		rec.LastErrorScope = st.Errors[n-1].Scope
	}
	if n := len(st.Errors); n > 0 && clientErr == nil {
		// The connection's own cause, which APIM's message does not give.
		var be *backend.Error
		if errors.As(st.Errors[n-1].Err, &be) && be.Err != nil {
			rec.LastErrorDetail = be.Err.Error()
		}
	}
	rec.IsRequestSuccess = resp.StatusCode < 400 && len(rec.Errors) == 0 && rec.LastErrorReason == ""
}

// opSeries are the metric series an operation's successful requests (2xx
// from a 2xx backend, no error) use: resolving them once saves hashing
// their labels on every request. Metric series are never deleted, so
// they stay valid across reloads.
type opSeries struct {
	ok              prometheus.Counter
	duration        prometheus.Observer
	backendDuration prometheus.Observer
}

func (g *Gateway) observe(op *opPlan, rec *logs.Record, st *policy.State, start, end time.Time) {
	if op != nil && rec.ApiId != "" && rec.OperationId == op.cfg.ID && rec.LastErrorReason == "" &&
		rec.ResponseCode/100 == 2 && rec.BackendResponseCode/100 == 2 {
		s := op.series.Load()
		if s == nil {
			s = &opSeries{
				ok:              g.metrics.Requests.WithLabelValues(rec.ApiId, rec.OperationId, "2xx", "2xx", ""),
				duration:        g.metrics.Duration.WithLabelValues(rec.ApiId),
				backendDuration: g.metrics.BackendDuration.WithLabelValues(rec.ApiId),
			}
			op.series.Store(s)
		}
		s.ok.Inc()
		s.duration.Observe(end.Sub(start).Seconds())
		s.backendDuration.Observe(st.BackendTime.Seconds()) // a 2xx backend code: it was called
	} else {
		g.metrics.Requests.WithLabelValues(rec.ApiId, rec.OperationId, metrics.CodeClass(rec.ResponseCode),
			metrics.CodeClass(rec.BackendResponseCode), rec.LastErrorReason).Inc()
		g.metrics.Duration.WithLabelValues(rec.ApiId).Observe(end.Sub(start).Seconds())
		if st.BackendCalled {
			g.metrics.BackendDuration.WithLabelValues(rec.ApiId).Observe(st.BackendTime.Seconds())
		}
	}
	if st.Cache != logs.CacheNone {
		g.metrics.CacheLookups.WithLabelValues(rec.ApiId, st.Cache).Inc()
	}
	switch rec.LastErrorReason {
	case policy.ReasonBackendConnectionFailure, policy.ReasonTimeout:
		if rec.BackendId != "" {
			g.metrics.BackendFailures.WithLabelValues(rec.BackendId, rec.LastErrorReason).Inc()
		}
	case policy.ReasonRateLimitExceeded:
		g.metrics.Rejections.WithLabelValues(rec.ApiId, "rate-limit").Inc()
	case policy.ReasonQuotaExceeded:
		g.metrics.Rejections.WithLabelValues(rec.ApiId, "quota").Inc()
	case "ConcurrencyLimitExceeded":
		g.metrics.Rejections.WithLabelValues(rec.ApiId, "limit-concurrency").Inc()
	}
}

// requestURL sets u, with q as its query, to context.Request.Url for r.
func requestURL(u *expr.URL, q *expr.Query, r *http.Request) {
	q.Parse(r.URL.RawQuery)
	*u = expr.URL{Scheme: "http", Path: r.URL.Path, Query: q}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
		if u.Scheme == "https" {
			u.Port = 443
		} else {
			u.Port = 80
		}
	} else {
		u.Port, _ = strconv.Atoi(port)
	}
	u.Host = trimBrackets(host)
	if u.Path == "" {
		u.Path = "/"
	}
}

// trimBrackets is strings.Trim(s, "[]") without its set of the cut bytes.
func trimBrackets(s string) string {
	for len(s) > 0 && (s[0] == '[' || s[0] == ']') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == '[' || s[len(s)-1] == ']') {
		s = s[:len(s)-1]
	}
	return s
}

// clientIP is clientIP(r), worked out again only for another address than
// the last request's.
func (x *exchange) clientIP(r *http.Request) string {
	if r.RemoteAddr != x.remoteAddr {
		x.remoteAddr, x.ip = r.RemoteAddr, clientIP(r)
	}
	return x.ip
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// newRequestID returns a random (version 4) GUID, APIM's request id format.
// Its bits come from math/rand/v2 (a ChaCha8 stream seeded by the system),
// 68 ns per id against crypto/rand's 148 (string included): a request id
// correlates, it guards nothing. Guid.NewGuid() in expressions keeps crypto/rand.
func newRequestID() string {
	return formatRequestID(rand.Uint64(), rand.Uint64())
}

// formatRequestID returns the version 4 GUID whose bytes 0-7 are lo's and
// 8-15 hi's (little-endian), as expr.Guid.String writes it, without
// encoding/hex's five calls.
func formatRequestID(lo, hi uint64) string {
	lo = lo&^(0xf0<<48) | 0x40<<48 // version 4: high nibble of byte 6
	hi = hi&^0xc0 | 0x80           // variant 10: top bits of byte 8
	var b [36]byte
	binary.LittleEndian.PutUint64(b[0:], hexDigits8(uint32(lo)))
	b[8] = '-'
	h := hexDigits8(uint32(lo >> 32))
	binary.LittleEndian.PutUint32(b[9:], uint32(h))
	b[13] = '-'
	binary.LittleEndian.PutUint32(b[14:], uint32(h>>32))
	b[18] = '-'
	h = hexDigits8(uint32(hi))
	binary.LittleEndian.PutUint32(b[19:], uint32(h))
	b[23] = '-'
	binary.LittleEndian.PutUint32(b[24:], uint32(h>>32))
	binary.LittleEndian.PutUint64(b[28:], hexDigits8(uint32(hi>>32)))
	return string(b[:])
}

// hexDigits8 returns the eight lower-case hex digits of x's four bytes
// (little-endian) as the bytes of a little-endian word, in the order they
// are written: the first byte's high and low nibble first.
func hexDigits8(x uint32) uint64 {
	const lsb = swar.LSB
	y := uint64(x)
	y = (y | y<<16) & 0x0000ffff0000ffff
	y = (y | y<<8) & 0x00ff00ff00ff00ff // byte k of x in byte 2k
	n := y>>4&0x000f000f000f000f | (y&0x000f000f000f000f)<<8
	// Every byte of n is a nibble: those above 9 (n+6 reaches bit 4)
	// become 'a'-'f' rather than '0'+n.
	return n + '0'*lsb + (n+6*lsb)>>4&lsb*('a'-'0'-10)
}

// redactURL returns u, or a copy of it without the query parameters r
// says are secret.
func redactURL(r *logs.Redactor, u *expr.URL) *expr.URL {
	var c *expr.URL
	for _, name := range u.Query.Names() {
		if r.Secret(name) {
			if c == nil {
				c = u.Clone()
			}
			c.Query.Del(name)
		}
	}
	if c == nil {
		return u
	}
	return c
}

// forbiddenTrailer reports whether a backend's trailer field must not be
// passed on (RFC 9110 §6.5.1): fields that frame or route the message,
// control requests, caching or authentication, or describe the content,
// which a recipient could mistake for header fields once merged. The list
// is net/http's (httpguts.ValidTrailerHeader) and the RFC's examples.
func forbiddenTrailer(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
		"Content-Range", "Content-Type", "Expect", "Host", "Keep-Alive", "Max-Forwards", "Pragma",
		"Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Range", "Realm", "Te",
		"Trailer", "Transfer-Encoding", "Www-Authenticate", "Set-Cookie", "Cookie", "Age",
		"Date", "Expires", "Location", "Retry-After", "Vary", "Warning", "Upgrade":
		return true
	}
	return false
}
