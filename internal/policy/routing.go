package policy

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/httplex"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
	"github.com/apimgw/apimgw/internal/reqctx"
)

func init() {
	register("forward-request", []string{SectionBackend}, compileForwardRequest)
	register("set-backend-service", []string{SectionInbound, SectionBackend}, compileSetBackendService)
	register("rewrite-uri", []string{SectionInbound}, compileRewriteURI)
	register("proxy", []string{SectionInbound}, compileProxy)
}

// proxyStep is the proxy policy: forward-request (or the enclosing
// send-request) goes through an HTTP proxy, with Basic credentials when
// username or password is given.
type proxyStep struct {
	url, username, password *expr.Value
	fixed                   *backend.Proxy // when every attribute is constant
}

func compileProxy(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "url", "username", "password")
	b.children(el)
	u, ok := attrs["url"]
	if !ok {
		b.errorf(el.Pos, "<proxy> needs attribute \"url\"")
		return nil
	}
	p := &proxyStep{url: b.value(u)}
	if a, ok := attrs["username"]; ok {
		p.username = b.value(a)
	}
	if a, ok := attrs["password"]; ok {
		p.password = b.value(a)
	}
	if p.url == nil {
		return nil
	}
	constant := p.url.IsConst() && (p.username == nil || p.username.IsConst()) && (p.password == nil || p.password.IsConst())
	if p.url.IsConst() {
		if _, err := backend.NewProxy(u.Value, "", ""); err != nil {
			b.errorf(u.ValuePos, "%v (apimgw, like APIM, talks plain HTTP to the proxy)", err)
			return nil
		}
	}
	if constant {
		px, err := p.build(nil)
		if err != nil {
			b.errorf(u.ValuePos, "%v", err)
			return nil
		}
		p.fixed = px
	}
	return p
}

func (p *proxyStep) Run(st *State) error {
	px, err := p.proxy(st)
	if err != nil {
		return err
	}
	st.Proxy = px
	return nil
}

func (p *proxyStep) proxy(st *State) (*backend.Proxy, error) {
	if p.fixed != nil {
		return p.fixed, nil
	}
	return p.build(&st.X)
}

// build evaluates the attributes (c may be nil when they are constant).
func (p *proxyStep) build(c *expr.Context) (*backend.Proxy, error) {
	str := func(v *expr.Value) (string, error) {
		if v == nil {
			return "", nil
		}
		return v.String(c)
	}
	u, err := str(p.url)
	if err != nil {
		return nil, err
	}
	user, err := str(p.username)
	if err != nil {
		return nil, err
	}
	pass, err := str(p.password)
	if err != nil {
		return nil, err
	}
	px, err := backend.NewProxy(u, user, pass)
	if err != nil {
		return nil, &Error{Reason: ReasonExpressionFailure, Message: err.Error()}
	}
	return px, nil
}

// defaultForwardTimeout is APIM's documented forward-request timeout.
const defaultForwardTimeout = 300 * time.Second

// forwardRequest sends the request to the backend and makes its response
// context.Response.
type forwardRequest struct {
	timeout           time.Duration
	timeoutExpr       intValue // timeout="@(...)", in seconds
	failOnErrorStatus bool
	bufferRequestBody bool
	followRedirects   bool
	bufferResponse    bool
}

func compileForwardRequest(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "timeout", "timeout-ms", "follow-redirects", "buffer-request-body", "buffer-response", "fail-on-error-status-code", "http-version", "continue-timeout")
	b.children(el)
	f := &forwardRequest{
		timeout:           defaultForwardTimeout,
		failOnErrorStatus: b.constBool(attrs["fail-on-error-status-code"], false),
		bufferRequestBody: b.constBool(attrs["buffer-request-body"], false),
		followRedirects:   b.constBool(attrs["follow-redirects"], false),
		bufferResponse:    b.constBool(attrs["buffer-response"], true),
	}
	if a, ok := attrs["timeout"]; ok {
		if expr.IsExpression(a.Value) {
			f.timeoutExpr = b.intAttr(a, 0, 0, 240*60)
		} else {
			f.timeout = b.seconds(a, defaultForwardTimeout, 240*60)
		}
	}
	if a, ok := attrs["timeout-ms"]; ok {
		f.timeout = time.Duration(b.constInt(a, 0, 0, 240*60*1000)) * time.Millisecond
	}
	if a, ok := attrs["http-version"]; ok {
		switch a.Value {
		case "1", "2", "2or1":
		default:
			b.errorf(a.ValuePos, `http-version must be "1", "2" or "2or1", got %q`, a.Value)
		}
	}
	return f
}

// isHopHeader reports whether a canonical header name is one of
// hopHeaders.
func isHopHeader(k string) bool { return httplex.FieldOf(k)&httplex.FieldsHop != 0 }

// hopHeaders are removed when a message crosses the gateway (RFC 9110 §7.6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// RemoveHopHeaders deletes hop-by-hop headers, including those named in
// Connection.
func RemoveHopHeaders(h http.Header) {
	small := len(h) <= 8
	if small {
		// A small map is cheaper to walk than to probe for nine names.
		hop := false
		for k := range h {
			if isHopHeader(k) {
				hop = true
				break
			}
		}
		if !hop {
			return
		}
	}
	for _, v := range h["Connection"] {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			// A hop-by-hop name (keep-alive, close is none) goes below
			// anyway: no need to put it in canonical form first.
			if name = strings.TrimSpace(name); name != "" && !isHopFold(name) {
				if httplex.ValidToken(name) {
					name = httplex.CanonicalKey(name, nil)
				}
				delete(h, name) // as h.Del(name), which leaves a name that is no token as it is
			}
		}
	}
	if small {
		for k := range h {
			if isHopHeader(k) {
				delete(h, k)
			}
		}
		return
	}
	for _, name := range hopHeaders {
		delete(h, name)
	}
}

// isHopFold reports whether name is one of hopHeaders in any case.
func isHopFold(name string) bool {
	for _, h := range hopHeaders {
		if len(h) == len(name) && strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

func (f *forwardRequest) Run(st *State) error {
	st.Close()
	target, entity := st.BackendURL, st.BackendEntity
	var report func(Outcome)
	if entity != nil && entity.Select != nil {
		member, done, err := entity.Select(st)
		if err != nil {
			return err
		}
		entity, report = member, done
		target = member.URL
	} else if entity != nil && entity.Admit != nil {
		done, err := entity.Admit(st)
		if err != nil {
			return err
		}
		report = done
	}
	if target == nil {
		return &Error{Reason: ReasonBackendConnectionFailure, Message: "No backend service URL is set for this API (set serviceUrl or use set-backend-service)"}
	}
	timeout := f.timeout
	if f.timeoutExpr.v != nil {
		secs, err := f.timeoutExpr.get(st)
		if err != nil {
			if report != nil {
				report(Outcome{}) // the member chosen, or the slot admitted, is not used
			}
			return err
		}
		timeout = time.Duration(secs) * time.Second
	}
	call := st.newCall(timeout)
	ctx := &call.ctx
	out, err := f.backendRequest(call, st, target, entity, outboundContext(ctx, st, entity))
	if err != nil {
		ctx.Cancel(nil)
		if report != nil {
			report(Outcome{})
		}
		return err
	}
	if entity != nil && entity.Budget != nil && !st.Retrying {
		entity.Budget.Request()
	}
	st.BackendCalled = true
	st.BackendMethod = out.Method
	st.BackendURLUsed = urlString(out.URL, st.origin(target))
	if entity != nil {
		st.BackendID = entity.ID
	}
	start := st.Env.now()
	resp, err := st.roundTrip(out)
	http1 := st.readIntoBuffer(resp, err)
	if f.followRedirects {
		// Within the same timeout, as one backend call.
		for hops := 0; err == nil && hops < maxRedirects; hops++ {
			next := redirectRequest(out, resp)
			if next == nil {
				break
			}
			drainClose(resp.Body)
			out = next
			st.BackendURLUsed = out.URL.String()
			resp, err = st.roundTrip(out)
			http1 = http1 && st.readIntoBuffer(resp, err)
		}
	}
	if http1 {
		st.Conn.keep(call)
	}
	headersIn := ctx.StopTimer()
	st.BackendTime = st.Env.now().Sub(start)
	if err != nil {
		timedOut := ctx.TimedOut() || !headersIn && ctx.Err() != nil && st.Ctx.Err() == nil
		ctx.Cancel(nil)
		if berr := call.src.readErr(); berr != nil {
			// The client's body broke the call (bad chunked framing, an
			// upload abandoned): the client's fault, which no breaker,
			// retry budget or health verdict may count.
			if report != nil {
				report(Outcome{})
			}
			return requestBodyError("reading the request body failed", berr)
		}
		pe := classify(st, err, timedOut)
		if report != nil {
			report(Outcome{ErrorReason: pe.Reason})
		}
		return pe
	}
	if rwc, ok := switched(resp); ok {
		// The backend switched protocols (a WebSocket): its connection is
		// the gateway's to relay; the backend call lasts as long.
		st.UpgradeProtocol = httplex.First(resp.Header, "Upgrade")
		st.upgraded = &upgradedConn{ReadWriteCloser: rwc, ctx: ctx}
		resp.Body = http.NoBody
	} else {
		call.body = cancelBody{ReadCloser: resp.Body, ctx: ctx}
		resp.Body = &call.body
	}
	if st.Conn == nil || !st.Conn.Response.HopFree(resp) {
		// (A response read into the connection's buffer says whether
		// its head had a hop-by-hop field at all.)
		RemoveHopHeaders(resp.Header)
	}
	st.BackendStatus = resp.StatusCode
	st.backendResp = resp
	if report != nil {
		report(Outcome{StatusCode: resp.StatusCode, RetryAfter: retryAfter(httplex.First(resp.Header, "Retry-After"), st.Env.now())})
	}
	reason := statusReason(resp)
	st.streamBody = !f.bufferResponse
	call.exprBody.InitStream(resp.Body)
	st.backendBody = &call.exprBody
	call.resp = expr.Response{
		StatusCode:   resp.StatusCode,
		StatusReason: reason,
		Headers:      resp.Header,
		Body:         st.backendBody,
	}
	st.X.Response = &call.resp
	if f.failOnErrorStatus && resp.StatusCode >= 400 {
		return &Error{Reason: ReasonBackendStatusCode, Message: fmt.Sprintf("Backend service returned status code %d", resp.StatusCode), Status: resp.StatusCode, ClientMessage: http.StatusText(resp.StatusCode)}
	}
	return nil
}

// switched returns the backend connection of a 101 response: its body,
// when it can be written to. (The status is checked first: the type
// assertion costs more.)
func switched(resp *http.Response) (io.ReadWriteCloser, bool) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, false
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	return rwc, ok
}

// intoTransport is a transport that can read a response into the caller's
// storage: the connection manager.
type intoTransport interface {
	RoundTripInto(*http.Request, *backend.ResponseBuffer) (*http.Response, error)
}

// roundTrip sends forward-request's request, into the connection's
// response buffer when there is one and the transport can use it. The
// response read before into the same buffer has been closed by then
// (State.Close, or the redirect that replaced it).
func (st *State) roundTrip(out *http.Request) (*http.Response, error) {
	if st.Conn != nil {
		if t, ok := st.Env.Transport.(intoTransport); ok {
			return t.RoundTripInto(out, &st.Conn.Response)
		}
	}
	return st.Env.Transport.RoundTrip(out)
}

// readIntoBuffer reports whether a round trip's response was read into the
// connection's buffer: an HTTP/1.1 exchange, which our own client ran to
// the end on this goroutine (an HTTP/2 one leaves net/http goroutines that
// may still hold the request and its context).
func (st *State) readIntoBuffer(resp *http.Response, err error) bool {
	return err == nil && st.Conn != nil && st.Conn.Response.Holds(resp)
}

// ResponseHeaderOwned reports whether the response's header map is the
// backend response's held in the connection's storage (see
// backend.ResponseBuffer): a map that nothing outside this request refers
// to and that nobody touches until the connection's next request, so the
// server may take it for the response it writes instead of a copy.
func (st *State) ResponseHeaderOwned() bool {
	r, b := st.X.Response, st.backendResp
	return r != nil && b != nil && st.Conn != nil && st.Conn.Response.Holds(b) && r.Headers != nil &&
		httplex.SameMap(r.Headers, b.Header) // a policy may have set another map
}

// ConnStorage is what forward-request reuses from one request to the next
// on one client connection, whose requests run one after another: the
// backend response's storage (see backend.ResponseBuffer) and the backend
// call of the last request, when it was HTTP/1.1 through that buffer — its
// context, outbound request and response model, which nothing holds once
// that request is over. The gateway gives one to the State of each request
// on apimgw's own server, and calls Begin as the request starts.
type ConnStorage struct {
	Response backend.ResponseBuffer
	call     *backendCall
	request  uint64 // Begin's count
	keptIn   uint64 // the request that kept call
	// The backend URL of the connection's last request and its
	// plainOrigin, for the next (see State.origin).
	originOf *url.URL
	origin   string
}

// Begin marks the start of the connection's next request: what the last
// one kept may be reused from now on.
func (c *ConnStorage) Begin() { c.request++ }

// Release lets go of what the last request's backend call and response
// referred to, keeping the storage.
func (c *ConnStorage) Release() {
	c.Response.Release()
	if c.call != nil {
		c.call.clear()
	}
}

func (c *ConnStorage) keep(call *backendCall) {
	c.call, c.keptIn = call, c.request
}

// newCall returns the backend call for a forward-request, bound to st.Ctx
// with timeout: the connection's, once an earlier request is done with it,
// or a new one. A kept call is reused only when its context was made from
// st.Ctx, the context the server gives each request of one connection:
// renewed, the call's context is linked to the parent it was made from,
// which, from another connection (the storage moves between connections
// when one parks or ends), is that connection's, cancelled with it or with
// its next request.
func (st *State) newCall(timeout time.Duration) *backendCall {
	if c := st.Conn; c != nil && c.call != nil && c.keptIn < c.request && c.call.ctx.Parent() == st.Ctx && c.call.ctx.Err() != nil {
		call := c.call
		c.call = nil // in use: kept again only if this call is HTTP/1.1 too
		call.ctx.Renew(timeout)
		return call
	}
	call := new(backendCall)
	call.ctx.Init(st.Ctx, timeout)
	return call
}

// backendRequest builds the outbound request from the current state of
// context.Request and the target base URL, bound to ctx. (It is built in
// place and copied once by WithContext, rather than allocated and then
// copied.)
func (f *forwardRequest) backendRequest(call *backendCall, st *State, base *url.URL, entity *BackendEntity, ctx context.Context) (*http.Request, error) {
	r := st.X.Request
	call.url = url.URL{Scheme: base.Scheme, Host: base.Host, User: base.User}
	u := &call.url
	p := r.Url.Path
	if st.APIPath != "" {
		prefix := "/" + st.APIPath
		if len(p) >= len(prefix) && strings.EqualFold(p[:len(prefix)], prefix) {
			p = p[len(prefix):]
		}
	}
	// The path below the base never climbs out of it, whatever a policy
	// (rewrite-uri, a matched parameter) made of it.
	p, ok := ResolveDotSegments(p, true)
	if !ok {
		return nil, &Error{Reason: ReasonInvalidPath, Message: "The backend request path has dot-segments between backslashes", Status: http.StatusBadRequest, ClientMessage: "Invalid request path"}
	}
	u.Path = joinPath(base.Path, p)
	q := r.Url.Query
	if entity != nil && len(entity.Query) > 0 {
		q = q.Clone()
		for k, v := range entity.Query {
			q.Set(k, v)
		}
	}
	if q.Len() > 0 {
		u.RawQuery = q.Encode()
	}
	var body io.ReadCloser = http.NoBody
	contentLength := int64(0)
	var buffered []byte // the body, when buffer-request-body="true"
	clientBody := r.Body != nil && r.Body == st.reqBody
	if r.Body != nil {
		if f.bufferRequestBody {
			b, err := r.Body.Bytes()
			if err != nil {
				return nil, requestBodyError("reading the request body failed", err)
			}
			r.Body = expr.NewBodyBytes(b)
			buffered = b
		}
		if n := st.requestBodyLen(); n != 0 {
			call.src.r = r.Body.Reader()
			call.src.err.Store(nil)
			body = &call.src
			contentLength = n
		}
	}
	// The client's header map is the request's own: forward it as is
	// (hop-by-hop headers and the subscription key were removed on the way
	// in) with the forwarding headers set once, even across retries.
	h := r.Headers
	delete(h, "Host")
	delete(h, "Content-Length")
	out := &http.Request{ // on the stack: copied into call.req below
		Method:        r.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          body,
		ContentLength: contentLength,
		Host:          u.Host,
	}
	if body == http.NoBody {
		out.Body = nil
		out.ContentLength = 0
	} else if buffered != nil {
		// A buffered body can be sent again (a followed 307/308 redirect).
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buffered)), nil }
	}
	if contentLength < 0 && body != http.NoBody {
		out.ContentLength = -1
	}
	if clientBody && len(st.reqTrailer) > 0 && body != http.NoBody {
		// The client's trailer follows its body, which needs chunked
		// framing (even when buffered, and so of known length).
		out.Trailer = st.reqTrailer
		out.ContentLength = -1
	}
	for k, v := range entity.headers() {
		out.Header.Set(k, v)
	}
	if st.forwarded {
		call.req = *out.WithContext(ctx)
		return &call.req, nil
	}
	st.forwarded = true
	// One backing array for the three forwarding headers' values.
	vals := call.fwd[:]
	if ip := r.IpAddress; ip != "" {
		if prior := out.Header["X-Forwarded-For"]; len(prior) > 0 {
			vals[0] = strings.Join(prior, ", ") + ", " + ip
		} else {
			vals[0] = ip
		}
		out.Header["X-Forwarded-For"] = vals[0:1:1]
	}
	if o := r.OriginalUrl; o != nil {
		host := o.Host
		if o.Port != 0 && !(o.Scheme == "http" && o.Port == 80 || o.Scheme == "https" && o.Port == 443) {
			if i := strings.LastIndexByte(st.ClientHost, ':'); i > 0 && atoiEquals(st.ClientHost[i+1:], o.Port) {
				host = st.ClientHost // the same "host:port", as the client sent it
			} else {
				host = net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
			}
		}
		vals[1], vals[2] = host, o.Scheme
		out.Header["X-Forwarded-Host"] = vals[1:2:2]
		out.Header["X-Forwarded-Proto"] = vals[2:3:3]
	}
	call.req = *out.WithContext(ctx) // the copy WithContext makes stays on the stack
	return &call.req, nil
}

// backendCall is what one forward-request allocates, in one piece: the
// call's context, the outbound request and its URL, the values of the
// forwarding headers, and the response's body wrappers and object model.
// It lives as long as the response body is referenced.
type backendCall struct {
	ctx      reqctx.Ctx
	url      url.URL
	req      http.Request
	fwd      [3]string
	body     cancelBody
	exprBody expr.Body
	src      sentBody // the request body sent
	resp     expr.Response
}

// clear drops what the call referred to (all but its context, which Renew
// resets), for a call kept for the connection's next request.
func (c *backendCall) clear() {
	c.url, c.req, c.fwd, c.body, c.exprBody, c.resp, c.src = url.URL{}, http.Request{}, [3]string{}, cancelBody{}, expr.Body{}, expr.Response{}, sentBody{}
}

// urlString is u.String(), without escaping a host and a path that need
// none (the outbound URL's, nearly always). origin, when not "", is
// plainOrigin of u's scheme, host and user.
func urlString(u *url.URL, origin string) string {
	if u.Opaque != "" || u.RawPath != "" || u.Fragment != "" || u.ForceQuery || u.OmitHost ||
		u.Path != "" && u.Path[0] != '/' || !httplex.PlainPath(u.Path) {
		return u.String()
	}
	if origin == "" {
		if origin = plainOrigin(u); origin == "" {
			return u.String()
		}
	}
	if u.Path == "" && u.RawQuery == "" {
		return origin
	}
	// A Builder grown to size costs less than a concatenation.
	var b strings.Builder
	b.Grow(len(origin) + len(u.Path) + len("?") + len(u.RawQuery))
	b.WriteString(origin)
	b.WriteString(u.Path)
	if u.RawQuery != "" {
		b.WriteByte('?')
		b.WriteString(u.RawQuery)
	}
	return b.String()
}

// plainOrigin is "scheme://host" for a URL with both, no user and a host
// that needs no escaping, or "".
func plainOrigin(u *url.URL) string {
	if u.Scheme == "" || u.Host == "" || u.User != nil || !httplex.AllIn(u.Host, &plainHost) {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// origin returns plainOrigin(base), worked out once for the connection's
// requests to the same backend URL (which nothing modifies).
func (st *State) origin(base *url.URL) string {
	c := st.Conn
	if c == nil {
		return ""
	}
	if c.originOf != base {
		c.originOf, c.origin = base, plainOrigin(base)
	}
	return c.origin
}

// plainHost is 1 for the bytes net/url leaves as they are in a host
// (unreserved, and the port's and IP literal's ":[]"; it escapes no more).
var plainHost = httplex.ByteTable(func(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:[]", c) >= 0
})

func atoiEquals(s string, n int) bool {
	v, err := strconv.Atoi(s)
	return err == nil && v == n
}

// statusReason is the reason phrase of the backend's status line.
func statusReason(resp *http.Response) string {
	s := resp.Status
	if len(s) >= 3 && s[0] >= '1' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' &&
		int(s[0]-'0')*100+int(s[1]-'0')*10+int(s[2]-'0') == resp.StatusCode {
		s = s[3:]
	}
	return strings.TrimSpace(s)
}

func (e *BackendEntity) headers() map[string]string {
	if e == nil {
		return nil
	}
	return e.Header
}

// joinPath appends the operation path to the backend's base path with one
// slash between them.
func joinPath(base, p string) string {
	switch {
	case base == "" || base == "/":
		if p == "" {
			return "/"
		}
		return p
	case p == "" || p == "/":
		if p == "/" && !strings.HasSuffix(base, "/") {
			return base + "/"
		}
		return base
	case strings.HasSuffix(base, "/") && strings.HasPrefix(p, "/"):
		return base + p[1:]
	case !strings.HasSuffix(base, "/") && !strings.HasPrefix(p, "/"):
		return base + "/" + p
	}
	return base + p
}

// classify turns a transport failure into APIM's error.
func classify(st *State, err error, timedOut bool) *Error {
	var be *backend.Error
	pe := &Error{Reason: ReasonBackendConnectionFailure, Message: backend.MsgUnableToConnect, Err: err}
	if errors.As(err, &be) {
		pe.Reason, pe.Message = be.Reason, be.Message
	}
	switch {
	case timedOut:
		pe.Reason, pe.Message = ReasonTimeout, backend.MsgTimeout
	case st.Ctx.Err() != nil:
		pe.Reason, pe.Message = ReasonClientConnectionFailure, backend.MsgCanceled
		pe.Status = 499
	}
	return pe
}

// retryAfter parses a Retry-After header (seconds or HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var secs int
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// cancelBody releases the backend call's context once the body is closed.
type cancelBody struct {
	io.ReadCloser
	ctx *reqctx.Ctx
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.ctx.Cancel(nil)
	return err
}

// outboundContext is ctx with what forward-request's connection needs: the
// client certificate (authentication-certificate, or the backend's
// credentials) and the proxy (the proxy policy).
func outboundContext(ctx *reqctx.Ctx, st *State, entity *BackendEntity) context.Context {
	cert, px := st.ClientCert, st.Proxy
	if entity != nil {
		cert = cmp.Or(cert, entity.ClientCert)
		px = cmp.Or(px, entity.Proxy)
	}
	return backend.WithConnOptions(ctx, cert, px)
}

// maxRedirects bounds the redirects forward-request follow-redirects="true"
// follows, as net/http's client does.
const maxRedirects = 10

// redirectRequest is the request that follows resp, a redirect answering
// prev, or nil when resp is not one to follow: not 301, 302, 303, 307 or
// 308, no usable Location, or a body that cannot be sent again. As .NET's
// HttpClient (APIM's) does: 303, and 301/302 after a POST, become a GET
// without a body; 307 and 308 keep the method and the body; credentials and
// cookies are not sent to another origin (scheme, host and port).
func redirectRequest(prev *http.Request, resp *http.Response) *http.Request {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return nil
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil
	}
	u, err := prev.URL.Parse(loc)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil
	}
	next := prev.Clone(prev.Context())
	next.URL, next.Host = u, u.Host
	toGet := resp.StatusCode == http.StatusSeeOther && prev.Method != http.MethodHead ||
		(resp.StatusCode == http.StatusMovedPermanently || resp.StatusCode == http.StatusFound) && prev.Method == http.MethodPost
	switch {
	case toGet:
		next.Method = http.MethodGet
		next.Body, next.GetBody, next.ContentLength = nil, nil, 0
		next.Header.Del("Content-Type")
	case prev.Body != nil && prev.Body != http.NoBody:
		if prev.GetBody == nil {
			return nil // the body was streamed and cannot be sent again
		}
		b, err := prev.GetBody()
		if err != nil {
			return nil
		}
		next.Body = b
	}
	if u.Scheme != prev.URL.Scheme || !strings.EqualFold(u.Host, prev.URL.Host) { // another origin
		next.Header.Del("Authorization")
		next.Header.Del("Cookie")
	}
	return next
}

// drainClose reads a little of an unwanted body, so its connection can be
// reused, and closes it.
func drainClose(b io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(b, 16<<10))
	b.Close()
}

// upgradedConn is the backend connection after 101 Switching Protocols;
// closing it ends the backend call.
type upgradedConn struct {
	io.ReadWriteCloser
	ctx *reqctx.Ctx
}

func (u *upgradedConn) Close() error {
	err := u.ReadWriteCloser.Close()
	u.ctx.Cancel(nil)
	return err
}

// setBackendService changes where forward-request sends.
type setBackendService struct {
	baseURL   *expr.Value
	backendID *expr.Value
}

func compileSetBackendService(b *builder, el *policyxml.Element, path string) Step {
	azureOnly := []string{"sf-resolve-condition", "sf-service-instance-name", "sf-partition-key", "sf-replica-type", "sf-listener-name", "dapr-app-id", "dapr-method", "dapr-namespace"}
	attrs := b.attrs(el, append([]string{"base-url", "backend-id"}, azureOnly...)...)
	b.children(el)
	for _, n := range azureOnly {
		if a, ok := attrs[n]; ok {
			b.errorf(a.Pos, "set-backend-service %s is not supported: Service Fabric and Dapr backends are Azure-only", n)
		}
	}
	s := &setBackendService{}
	base, hasBase := attrs["base-url"]
	id, hasID := attrs["backend-id"]
	if hasBase == hasID {
		b.errorf(el.Pos, "<set-backend-service> needs exactly one of base-url or backend-id")
		return nil
	}
	if hasBase {
		s.baseURL = b.value(base)
		if s.baseURL != nil && s.baseURL.IsConst() {
			if _, err := backendURL(base.Value); err != nil {
				b.errorf(base.ValuePos, "%v", err)
			}
		}
	} else {
		s.backendID = b.value(id)
		if s.backendID != nil && s.backendID.IsConst() && b.c.BackendExists != nil && !b.c.BackendExists(id.Value) {
			b.errorf(id.ValuePos, "backend-id %q names no configured backend", id.Value)
		}
	}
	return s
}

func (s *setBackendService) Run(st *State) error {
	if s.baseURL != nil {
		v, err := s.baseURL.String(&st.X)
		if err != nil {
			return err
		}
		u, err := backendURL(v)
		if err != nil {
			return &Error{Reason: ReasonExpressionFailure, Message: err.Error()}
		}
		st.BackendURL, st.BackendEntity = u, nil
		return nil
	}
	if s.backendID == nil {
		return nil
	}
	id, err := s.backendID.String(&st.X)
	if err != nil {
		return err
	}
	e, ok := st.Env.Backends[id]
	if !ok {
		return &Error{Reason: "BackendNotFound", Message: fmt.Sprintf("Backend with id '%s' could not be found.", id)}
	}
	st.BackendURL, st.BackendEntity = e.URL, e
	return nil
}

// backendURL parses a base-url: absolute http(s), or ws(s) as APIM's
// WebSocket APIs write it (sent as the HTTP upgrade it starts with).
func backendURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err == nil && u.Host != "" {
		switch u.Scheme {
		case "http", "https":
			return u, nil
		case "ws":
			u.Scheme = "http"
			return u, nil
		case "wss":
			u.Scheme = "https"
			return u, nil
		}
	}
	return nil, fmt.Errorf("base-url must be an absolute http(s) or ws(s) URL, got %q", s)
}

// rewriteURI replaces the operation path (and query) sent to the backend.
type rewriteURI struct {
	template   *expr.Value
	copyParams bool
}

func compileRewriteURI(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "template", "copy-unmatched-params")
	b.children(el)
	if !b.require(el, attrs, "template") {
		return nil
	}
	return &rewriteURI{template: b.value(attrs["template"]), copyParams: b.constBool(attrs["copy-unmatched-params"], true)}
}

func (r *rewriteURI) Run(st *State) error {
	if r.template == nil {
		return nil
	}
	t, err := r.template.String(&st.X)
	if err != nil {
		return err
	}
	t = expandTemplate(t, st.X.Request.MatchedParameters)
	p, rawQuery, _ := strings.Cut(t, "?")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u := st.X.Request.Url
	if st.APIPath != "" {
		p = "/" + st.APIPath + p
	}
	u.Path = p
	q := expr.ParseQuery(rawQuery)
	if r.copyParams {
		for _, k := range u.Query.Names() {
			if q.Values(k) == nil && !st.templateQuery(k) {
				q.Set(k, u.Query.Values(k)...)
			}
		}
	}
	u.Query = q
	return nil
}

// templateQuery reports whether the operation's URL template consumed the
// query parameter name (APIM does not copy those with copy-unmatched-params).
func (st *State) templateQuery(name string) bool {
	for _, n := range st.TemplateQuery {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// expandTemplate fills {name} placeholders from the matched parameters.
func expandTemplate(t string, params map[string]string) string {
	if !strings.Contains(t, "{") {
		return t
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			return b.String()
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			b.WriteString(t)
			return b.String()
		}
		b.WriteString(t[:i])
		name := strings.TrimPrefix(t[i+1:i+j], "*")
		if v, ok := params[name]; ok {
			b.WriteString(v)
		} else {
			b.WriteString(t[i : i+j+1])
		}
		t = t[i+j+1:]
	}
}
