package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

func init() {
	register("send-request", nil, compileSendRequest)
	register("send-one-way-request", nil, compileSendOneWayRequest)
	register("wait", nil, compileWait)
}

// defaultSendTimeout is APIM's documented send-request timeout.
const defaultSendTimeout = 60 * time.Second

// maxOneWayInFlight bounds the fire-and-forget calls one send-one-way-request
// policy may have outstanding; beyond it new calls are dropped (and logged)
// rather than piling up goroutines behind a slow destination.
const maxOneWayInFlight = 64

// outRequest is the message a send-request builds before sending it.
type outRequest struct {
	method  string
	url     string
	header  http.Header
	body    []byte
	hasBody bool
	cert    *backend.ClientCert
	proxy   *backend.Proxy
}

// requestMutator changes the outgoing message; one per child element of
// send-request, applied in document order.
type requestMutator func(st *State, r *outRequest) error

// callSpec is what send-request and send-one-way-request share: how to
// build the message and how long to wait for it.
type callSpec struct {
	copyMode     *expr.Value // mode: "new" | "copy"
	timeout      *expr.Value // seconds; nil = default
	constTimeout time.Duration
	mutators     []requestMutator
}

// compileCall compiles the attributes and children common to both send
// policies; mode="new" requires a set-url.
func compileCall(b *builder, el *policyxml.Element, attrs map[string]policyxml.Attr, path string) *callSpec {
	c := &callSpec{constTimeout: defaultSendTimeout}
	mode := "new"
	if a, ok := attrs["mode"]; ok {
		c.copyMode = b.value(a)
		if c.copyMode != nil && c.copyMode.IsConst() {
			mode = strings.ToLower(strings.TrimSpace(a.Value))
			if mode != "new" && mode != "copy" {
				b.errorf(a.ValuePos, `%s mode must be "new" or "copy", got %q`, el.Name, a.Value)
			}
		}
	}
	if a, ok := attrs["timeout"]; ok {
		if expr.IsExpression(a.Value) {
			c.timeout = b.value(a)
		} else {
			// APIM's reference writes timeout="60 sec"; accept that spelling.
			v := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(a.Value), "sec"))
			a.Value = v
			c.constTimeout = b.seconds(a, defaultSendTimeout, 240*60)
		}
	}
	hasURL := false
	for _, child := range b.children(el, "set-url", "set-method", "set-header", "set-body",
		"authentication-managed-identity", "authentication-basic", "authentication-certificate", "authentication-token", "proxy") {
		switch child.Name {
		case "set-url":
			b.noAttrs(child)
			b.children(child)
			hasURL = true
			if v := b.textValue(child); v != nil {
				c.mutators = append(c.mutators, func(st *State, r *outRequest) error {
					s, err := v.String(&st.X)
					if err != nil {
						return err
					}
					r.url = strings.TrimSpace(s)
					return nil
				})
			}
		case "set-method":
			if sm, ok := compileSetMethod(b, child, path).(*setMethod); ok && sm.method != nil {
				c.mutators = append(c.mutators, func(st *State, r *outRequest) error {
					m, err := sm.method.String(&st.X)
					if err != nil {
						return err
					}
					r.method = strings.ToUpper(strings.TrimSpace(m))
					return nil
				})
			}
		case "set-header":
			if sn, ok := compileSetNamed(b, child, false).(*setNamed); ok {
				c.mutators = append(c.mutators, func(st *State, r *outRequest) error {
					return applyHeader(st, sn, r.header)
				})
			}
		case "set-body":
			switch sb := compileSetBody(b, child, path).(type) {
			case *setBody:
				c.mutators = append(c.mutators, func(st *State, r *outRequest) error {
					data, err := sb.bytes(st)
					if err != nil {
						return err
					}
					r.body, r.hasBody = data, true
					return nil
				})
			case nil:
			default:
				b.errorf(child.Pos, "set-body template=\"liquid\" is not supported inside <%s> (it renders the current request); build the body with an expression", el.Name)
			}
		case "authentication-managed-identity":
			if mi := compileManagedIdentity(b, child, path); mi != nil {
				m := mi.(*managedIdentity)
				if m.outputVar != "" {
					b.errorf(child.Pos, "output-token-variable-name is not allowed on authentication-managed-identity inside <%s>", el.Name)
				}
				c.mutators = append(c.mutators, func(st *State, r *outRequest) error {
					tok, err := m.token(st)
					if err != nil || tok == "" {
						return err
					}
					r.header.Set("Authorization", "Bearer "+tok)
					return nil
				})
			}
		case "authentication-basic":
			if ab, ok := compileAuthBasic(b, child, path).(*authBasic); ok {
				c.mutators = append(c.mutators, func(st *State, r *outRequest) error {
					v, err := ab.header(st)
					if err != nil {
						return err
					}
					r.header.Set("Authorization", v)
					return nil
				})
			}
		case "authentication-certificate":
			if ac, ok := compileAuthCertificate(b, child, path).(*authCertificate); ok {
				c.mutators = append(c.mutators, func(st *State, r *outRequest) error {
					cert, err := ac.certificate(st)
					r.cert = cert
					return err
				})
			}
		case "authentication-token":
			b.errorf(child.Pos, "<authentication-token> inside <%s> is not supported: it needs an API Management authorization (credential manager) connection, which exists only in Azure", el.Name)
		case "proxy":
			if ps, ok := compileProxy(b, child, path).(*proxyStep); ok {
				c.mutators = append(c.mutators, func(st *State, r *outRequest) error {
					px, err := ps.proxy(st)
					r.proxy = px
					return err
				})
			}
		}
	}
	// Without set-method the call is a GET, as in APIM.
	if mode == "new" && (c.copyMode == nil || c.copyMode.IsConst()) && !hasURL {
		b.errorf(el.Pos, "<%s> needs a <set-url> (mode=\"new\")", el.Name)
	}
	return c
}

// applyHeader applies a compiled set-header to h with its exists-action.
func applyHeader(st *State, s *setNamed, h http.Header) error {
	key := s.key
	switch s.action {
	case actionDelete:
		delete(h, key)
		return nil
	case actionSkip:
		if _, exists := h[key]; exists {
			return nil
		}
	}
	vals, err := s.eval(st)
	if err != nil {
		return err
	}
	if s.action == actionAppend {
		vals = append(append([]string(nil), h[key]...), vals...)
	}
	if len(vals) > 1 && !separateHeaderLines[key] {
		// APIM joins the values of a header into one comma-separated line.
		vals = []string{strings.Join(vals, ",")}
	}
	h[key] = vals
	return nil
}

// separateHeaderLines are the headers whose values may hold commas or
// dates: set-header sends each of their values as its own header line, as
// APIM does, instead of joining them with commas.
var separateHeaderLines = map[string]bool{
	"User-Agent": true, "Www-Authenticate": true, "Proxy-Authenticate": true,
	"Cookie": true, "Set-Cookie": true, "Warning": true,
	"Date": true, "Expires": true, "If-Modified-Since": true, "If-Unmodified-Since": true,
	"Last-Modified": true, "Retry-After": true,
}

// bytes evaluates the set-body value.
func (s *setBody) bytes(st *State) ([]byte, error) {
	if s.null || s.value == nil {
		return nil, nil
	}
	v, err := evalAny(s.value, &st.X)
	if err != nil {
		return nil, err
	}
	switch t := v.(type) {
	case []byte:
		return t, nil
	case string:
		return []byte(t), nil
	case nil:
		return nil, nil
	}
	return []byte(expr.ToString(v)), nil
}

// build evaluates every expression of the call on the request's goroutine
// and returns the message to send with its timeout.
func (c *callSpec) build(st *State) (*http.Request, time.Duration, error) {
	copyMode := false
	if c.copyMode != nil {
		m, err := c.copyMode.String(&st.X)
		if err != nil {
			return nil, 0, err
		}
		switch strings.ToLower(strings.TrimSpace(m)) {
		case "copy":
			copyMode = true
		case "new", "":
		default:
			return nil, 0, &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("mode must be new or copy, got %q", m)}
		}
	}
	r := &outRequest{method: http.MethodGet, header: http.Header{}}
	if copyMode && st.X.Request != nil {
		in := st.X.Request
		r.method = in.Method
		if in.Url != nil {
			r.url = in.Url.String()
		}
		r.header = in.Headers.Clone()
		if r.header == nil {
			r.header = http.Header{}
		}
		RemoveHopHeaders(r.header)
		r.header.Del("Content-Length")
		if in.Body != nil && st.Section != SectionOutbound {
			data, err := in.Body.Bytes()
			if err != nil {
				return nil, 0, &Error{Reason: ReasonClientConnectionFailure, Message: "reading the request body to copy it failed", Err: err}
			}
			r.body, r.hasBody = data, len(data) > 0
		}
	}
	for _, m := range c.mutators {
		if err := m(st, r); err != nil {
			return nil, 0, err
		}
	}
	timeout := c.constTimeout
	if c.timeout != nil {
		secs, err := c.timeout.Int(&st.X)
		if err != nil {
			return nil, 0, err
		}
		if secs <= 0 {
			return nil, 0, &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("timeout must be a positive number of seconds, got %d", secs)}
		}
		timeout = time.Duration(secs) * time.Second
	}
	if r.url == "" {
		return nil, 0, &Error{Reason: ReasonExpressionFailure, Message: "the request URL is empty"}
	}
	u, err := url.Parse(r.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, 0, &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("the request URL %q is not an absolute http(s) URL", r.url)}
	}
	if !validHTTPMethod(r.method) {
		return nil, 0, &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("invalid HTTP method %q", r.method)}
	}
	req := &http.Request{
		Method:     r.method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     r.header,
		Host:       u.Host,
	}
	if h := r.header.Get("Host"); h != "" {
		req.Host = h
		r.header.Del("Host")
	}
	if r.cert != nil || r.proxy != nil {
		// Carried to sendCall, which keeps them in the call's context.
		req = req.WithContext(backend.WithConnOptions(context.Background(), r.cert, r.proxy))
	}
	if r.hasBody && len(r.body) > 0 {
		body := r.body
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return req, timeout, nil
}

func validHTTPMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, r := range m {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return true
}

// callResult is the outcome of one outbound call.
type callResult struct {
	resp *expr.Response
	err  error
}

// sendCall sends req through the gateway's transport and buffers the response so
// expressions can read it after the connection is released. It touches no
// State, so it may run on another goroutine; parent is the request's (or a
// detached) context.
func sendCall(parent context.Context, transport http.RoundTripper, req *http.Request, timeout time.Duration) callResult {
	if transport == nil {
		return callResult{err: &Error{Reason: ReasonBackendConnectionFailure, Message: "no outbound transport is configured", Status: http.StatusInternalServerError}}
	}
	parent = backend.WithConnOptions(parent, backend.ClientCertOf(req.Context()), backend.ProxyOf(req.Context()))
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	resp, err := transport.RoundTrip(req.WithContext(ctx))
	if err == nil {
		var data []byte
		data, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			RemoveHopHeaders(resp.Header)
			reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode)))
			if reason == "" {
				reason = http.StatusText(resp.StatusCode)
			}
			return callResult{resp: &expr.Response{StatusCode: resp.StatusCode, StatusReason: reason, Headers: resp.Header, Body: expr.NewBodyBytes(data)}}
		}
	}
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil
	return callResult{err: callError(parent, err, timedOut, req.URL)}
}

// callError classifies a failed send-request as APIM does: a connection
// failure or a timeout, reported with status 500 when on-error does not
// handle it.
func callError(parent context.Context, err error, timedOut bool, u *url.URL) *Error {
	st := &State{Ctx: parent}
	pe := classify(st, err, timedOut)
	if pe.Status == 0 {
		pe.Status = http.StatusInternalServerError
	}
	pe.Message = fmt.Sprintf("%s (%s %s)", pe.Message, u.Scheme, u.Host)
	return pe
}

// sendRequest is send-request: call a URL and store the response in a
// variable.
type sendRequest struct {
	call        *callSpec
	varName     *expr.Value
	ignoreError bool
}

func compileSendRequest(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "mode", "response-variable-name", "timeout", "ignore-error")
	if !b.require(el, attrs, "response-variable-name") {
		return nil
	}
	s := &sendRequest{
		call:        compileCall(b, el, attrs, path),
		varName:     b.value(attrs["response-variable-name"]),
		ignoreError: b.constBool(attrs["ignore-error"], false),
	}
	if s.varName == nil {
		return nil
	}
	return s
}

// prepare evaluates the variable name and the message on the request's
// goroutine.
func (s *sendRequest) prepare(st *State) (string, *http.Request, time.Duration, error) {
	name, err := s.varName.String(&st.X)
	if err != nil {
		return "", nil, 0, err
	}
	req, timeout, err := s.call.build(st)
	if err != nil {
		return "", nil, 0, err
	}
	return name, req, timeout, nil
}

// finish stores a call's outcome: the response, or null with ignore-error.
func (s *sendRequest) finish(st *State, name string, res callResult) error {
	if st.X.Variables == nil {
		st.X.Variables = expr.Variables{}
	}
	if res.err != nil {
		if !s.ignoreError {
			return res.err
		}
		st.X.Variables[name] = nil
		return nil
	}
	st.X.Variables[name] = res.resp
	return nil
}

func (s *sendRequest) Run(st *State) error {
	name, req, timeout, err := s.prepare(st)
	if err != nil {
		return err
	}
	return s.finish(st, name, sendCall(st.Ctx, st.Env.Transport, req, timeout))
}

// sendOneWay is send-one-way-request: the message is built on the request's
// goroutine, then sent by a goroutine detached from the client's context
// (the client leaving does not cancel it) and bounded by the policy's
// timeout; at most maxOneWayInFlight calls per policy are outstanding.
type sendOneWay struct {
	call     *callSpec
	inflight chan struct{}
}

func compileSendOneWayRequest(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "mode", "timeout")
	return &sendOneWay{call: compileCall(b, el, attrs, path), inflight: make(chan struct{}, maxOneWayInFlight)}
}

func (s *sendOneWay) Run(st *State) error {
	req, timeout, err := s.call.build(st)
	if err != nil {
		return err
	}
	select {
	case s.inflight <- struct{}{}:
	default:
		if st.Env.Log != nil {
			st.Env.Log.Warn("send-one-way-request dropped: too many calls in flight", "url", st.Env.Redactor.URL(req.URL.String()), "limit", maxOneWayInFlight, "requestId", st.X.RequestId)
		}
		return nil
	}
	ctx := context.WithoutCancel(st.Ctx)
	transport, log, id, redact := st.Env.Transport, st.Env.Log, st.X.RequestId, st.Env.Redactor
	bg := st.Env.Services.Background
	if bg != nil {
		bg.Add(1)
	}
	go func() {
		defer func() {
			<-s.inflight
			if bg != nil {
				bg.Done()
			}
		}()
		res := sendCall(ctx, transport, req, timeout)
		if res.err != nil && log != nil {
			log.Warn("send-one-way-request failed", "url", redact.URL(req.URL.String()), "error", res.err.Error(), "requestId", id)
		}
	}()
	return nil
}

// waitPolicy is wait: it runs its children and waits for all (or any) of them.
//
// State is not safe for concurrent use, so only the network part runs
// concurrently: every send-request directly inside wait has its message
// built (expressions evaluated) on the request's goroutine, then its
// round trip and body read run on their own goroutine, touching no State.
// The other children (choose, cache-lookup-value, ...) run on the request's
// goroutine, in document order, while those calls are in flight. Results are
// stored in document order once the wait is over. With for="any" the wait
// ends when the first child completes; calls still in flight are cancelled
// and their variables are not set. Every goroutine ends before Run returns.
type waitPolicy struct {
	any      bool
	children []waitChild
}

type waitChild struct {
	send *sendRequest // nil for a child run in place
	node node
}

// waitChildren are the policies APIM allows directly inside wait.
var waitChildren = []string{"send-request", "cache-lookup-value", "choose"}

func compileWait(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "for")
	w := &waitPolicy{}
	if a, ok := attrs["for"]; ok {
		switch strings.ToLower(a.Value) {
		case "all":
		case "any":
			w.any = true
		default:
			b.errorf(a.ValuePos, `wait for must be "all" or "any", got %q`, a.Value)
		}
	}
	// Only direct children are restricted; a choose inside wait may hold
	// any policy.
	direct := *el
	direct.Children = nil
	for _, n := range el.Children {
		if c, ok := n.(*policyxml.Element); ok && !contains(waitChildren, c.Name) {
			b.errorf(c.Pos, "<%s> is not allowed in <wait> (allowed: %s)", c.Name, strings.Join(waitChildren, ", "))
			continue
		}
		direct.Children = append(direct.Children, n)
	}
	for _, n := range b.steps(&direct, path+"/", false) {
		wc := waitChild{node: n}
		if sr, ok := n.step.(*sendRequest); ok {
			wc.send = sr
		}
		w.children = append(w.children, wc)
	}
	if len(w.children) == 0 {
		b.errorf(el.Pos, "<wait> needs at least one child (send-request, cache-lookup-value or choose)")
	}
	return w
}

func (w *waitPolicy) Run(st *State) error {
	type pending struct {
		idx int
		res callResult
	}
	ctx, cancel := context.WithCancel(st.Ctx)
	defer cancel()
	done := make(chan pending, len(w.children))
	var wg sync.WaitGroup
	defer wg.Wait() // no goroutine outlives the policy
	names := make([]string, len(w.children))
	transport := st.Env.Transport
	launched := 0
	for i := range w.children {
		c := &w.children[i]
		if c.send == nil {
			continue
		}
		name, req, timeout, err := c.send.prepare(st)
		if err != nil {
			return c.node.attribute(st, err)
		}
		names[i] = name
		launched++
		wg.Add(1)
		go func(i int, req *http.Request, timeout time.Duration) {
			defer wg.Done()
			done <- pending{idx: i, res: sendCall(ctx, transport, req, timeout)}
		}(i, req, timeout)
	}
	for i := range w.children {
		c := &w.children[i]
		if c.send != nil {
			continue
		}
		if err := c.node.step.Run(st); err != nil {
			cancel()
			return c.node.attribute(st, err)
		}
		if w.any {
			cancel()
			return nil
		}
	}
	results := make([]*callResult, len(w.children))
	for got := 0; got < launched; got++ {
		p := <-done
		results[p.idx] = &p.res
		if w.any {
			cancel()
			break
		}
	}
	for i, r := range results {
		if r == nil {
			continue
		}
		c := &w.children[i]
		if err := c.send.finish(st, names[i], *r); err != nil {
			return c.node.attribute(st, err)
		}
	}
	return nil
}
