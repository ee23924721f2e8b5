package policy

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

func init() {
	register("choose", nil, compileChoose)
	register("set-variable", nil, compileSetVariable)
	register("return-response", nil, compileReturnResponse)
	register("mock-response", []string{SectionInbound, SectionOutbound, SectionOnError}, compileMockResponse)
	register("set-status", nil, compileSetStatus)
	register("trace", nil, compileTrace)
}

// choose runs the first <when> whose condition is true, else <otherwise>.
type choose struct {
	whens     []when
	otherwise steps
}

type when struct {
	cond *expr.Value
	body steps
}

func compileChoose(b *builder, el *policyxml.Element, path string) Step {
	b.noAttrs(el)
	c := &choose{}
	seenOtherwise := false
	for i, child := range b.children(el, "when", "otherwise") {
		switch child.Name {
		case "when":
			if seenOtherwise {
				b.errorf(child.Pos, "<when> must come before <otherwise>")
			}
			attrs := b.attrs(child, "condition")
			if !b.require(child, attrs, "condition") {
				continue
			}
			cond := b.value(attrs["condition"])
			c.whens = append(c.whens, when{cond: cond, body: b.steps(child, fmt.Sprintf("%s/when[%d]/", path, i+1), false)})
		case "otherwise":
			if seenOtherwise {
				b.errorf(child.Pos, "<choose> takes one <otherwise>")
			}
			seenOtherwise = true
			b.noAttrs(child)
			c.otherwise = b.steps(child, path+"/otherwise[1]/", false)
		}
	}
	if len(c.whens) == 0 {
		b.errorf(el.Pos, "<choose> needs at least one <when>")
	}
	return c
}

func (c *choose) Run(st *State) error {
	for i := range c.whens {
		w := &c.whens[i]
		if w.cond == nil {
			continue
		}
		ok, err := w.cond.Bool(&st.X)
		if err != nil {
			return err
		}
		if ok {
			return w.body.run(st)
		}
	}
	return c.otherwise.run(st)
}

// setVariable stores a value in context.Variables; an expression keeps its
// type (bool, int, JObject, ...), a literal is a string.
type setVariable struct {
	name  string
	value *expr.Value
}

func compileSetVariable(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "name", "value")
	b.children(el)
	if !b.require(el, attrs, "name", "value") {
		return nil
	}
	return &setVariable{name: attrs["name"].Value, value: b.value(attrs["value"])}
}

func (s *setVariable) Run(st *State) error {
	if s.value == nil {
		return nil
	}
	v, err := evalAny(s.value, &st.X)
	if err != nil {
		return err
	}
	if st.X.Variables == nil {
		st.X.Variables = expr.Variables{}
	}
	st.X.Variables[s.name] = v
	return nil
}

// returnResponse ends the pipeline with a response built by its children,
// starting from a response stored in a variable when one is named.
type returnResponse struct {
	variable string
	body     steps
}

func compileReturnResponse(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "response-variable-name")
	rb := *b
	rb.target = targetResponse
	rb.only, rb.onlyIn = []string{"set-status", "set-header", "set-body"}, "return-response"
	r := &returnResponse{variable: attrs["response-variable-name"].Value}
	r.body = rb.steps(el, path+"/", false)
	return r
}

func (r *returnResponse) Run(st *State) error {
	resp := &expr.Response{StatusCode: http.StatusOK, StatusReason: "OK", Headers: http.Header{}}
	if r.variable != "" {
		v, ok := st.X.Variables[r.variable]
		if !ok {
			return &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("response variable %q does not exist", r.variable)}
		}
		src, ok := v.(*expr.Response)
		if !ok || src == nil {
			return &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("variable %q is not a response", r.variable)}
		}
		resp = cloneResponse(src)
	}
	// The children build the new response while context.Response is still
	// the current one (on-error reads the error response's status).
	prev := st.building
	st.building = resp
	err := r.body.run(st)
	st.building = prev
	if err != nil {
		return err
	}
	st.Close()
	st.X.Response = resp
	st.Responded = true
	return errResponded
}

// mockResponse ends the pipeline with a canned response.
type mockResponse struct {
	status      int
	contentType string // the content-type attribute, "" when absent
}

func compileMockResponse(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "status-code", "content-type", "index")
	b.children(el)
	m := &mockResponse{status: b.constInt(attrs["status-code"], 200, 100, 599)}
	if a, ok := attrs["content-type"]; ok {
		m.contentType = a.Value
	}
	return m
}

func (m *mockResponse) Run(st *State) error {
	h := http.Header{}
	ct, body := m.contentType, []byte(nil)
	if ct == "" {
		ct = "application/json"
	}
	if st.Spec != nil && st.Spec.Route != nil {
		// The operation's OpenAPI definition: its example, or a sample
		// from its schema.
		if sct, b, ok := mockContent(st.Spec.Route.Operation, m.status, m.contentType); ok {
			ct, body = sct, b
		}
	}
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	st.Close()
	st.X.Response = &expr.Response{StatusCode: m.status, StatusReason: http.StatusText(m.status), Headers: h, Body: expr.NewBodyBytes(body)}
	st.Responded = true
	return errResponded
}

// setStatus sets the response status code and reason.
type setStatus struct {
	code   *expr.Value
	reason *expr.Value
}

func compileSetStatus(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "code", "reason")
	b.children(el)
	if !b.require(el, attrs, "code") {
		return nil
	}
	s := &setStatus{code: b.value(attrs["code"])}
	if a, ok := attrs["reason"]; ok {
		s.reason = b.value(a)
	}
	if s.code != nil && s.code.IsConst() {
		if n, err := strconv.Atoi(strings.TrimSpace(attrs["code"].Value)); err != nil || n < 100 || n > 599 {
			b.errorf(attrs["code"].ValuePos, "set-status code must be an HTTP status (100-599), got %q", attrs["code"].Value)
		}
	}
	return s
}

func (s *setStatus) Run(st *State) error {
	if s.code == nil {
		return nil
	}
	code, err := s.code.Int(&st.X)
	if err != nil {
		return err
	}
	if code < 100 || code > 599 {
		return &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("invalid status code %d", code)}
	}
	resp := st.response()
	resp.StatusCode = code
	resp.StatusReason = http.StatusText(code)
	if s.reason != nil {
		r, err := s.reason.String(&st.X)
		if err != nil {
			return err
		}
		resp.StatusReason = r
	}
	return nil
}

// response returns the response being built (by return-response), or the
// current one, creating an empty 200 one.
func (st *State) response() *expr.Response {
	if st.building != nil {
		return st.building
	}
	if st.X.Response == nil {
		st.X.Response = &expr.Response{StatusCode: http.StatusOK, StatusReason: "OK", Headers: http.Header{}}
	}
	if st.X.Response.Headers == nil {
		st.X.Response.Headers = http.Header{}
	}
	return st.X.Response
}

// trace writes a message to the gateway's trace output.
type trace struct {
	source   string
	severity string
	message  *expr.Value
	metadata []traceMeta
}

type traceMeta struct {
	name  string
	value *expr.Value
}

func compileTrace(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "source", "severity")
	t := &trace{source: attrs["source"].Value, severity: "verbose"}
	if a, ok := attrs["severity"]; ok {
		switch strings.ToLower(a.Value) {
		case "verbose", "information", "error":
			t.severity = strings.ToLower(a.Value)
		default:
			b.errorf(a.ValuePos, "trace severity must be verbose, information or error, got %q", a.Value)
		}
	}
	if !b.require(el, attrs, "source") {
		return nil
	}
	for _, c := range b.children(el, "message", "metadata") {
		if t.message != nil && c.Name == "message" {
			b.errorf(c.Pos, "<trace> takes one <message>")
		}
		switch c.Name {
		case "message":
			b.noAttrs(c)
			t.message = b.textValue(c)
		case "metadata":
			ma := b.attrs(c, "name", "value")
			if b.require(c, ma, "name", "value") {
				t.metadata = append(t.metadata, traceMeta{name: ma["name"].Value, value: b.value(ma["value"])})
			}
		}
	}
	if t.message == nil {
		// The older form writes the message as the element's text.
		if strings.TrimSpace(el.Text()) == "" {
			b.errorf(el.Pos, "<trace> needs a <message>")
		} else {
			t.message = b.textValue(el)
		}
	}
	return t
}

// redactedKey replaces a subscription key in trace output.
const redactedKey = "***"

func (t *trace) Run(st *State) error {
	if t.message == nil {
		return nil
	}
	msg, err := t.message.String(&st.X)
	if err != nil {
		return err
	}
	var meta map[string]string
	if len(t.metadata) > 0 {
		meta = make(map[string]string, len(t.metadata))
		for _, m := range t.metadata {
			if m.value == nil {
				continue
			}
			v, err := m.value.String(&st.X)
			if err != nil {
				return err
			}
			meta[m.name] = v
		}
	}
	if k := st.PresentedKey; k != "" {
		// A message built from context.Request.OriginalUrl or the headers
		// would carry the subscription key into the log.
		msg = strings.ReplaceAll(msg, k, redactedKey)
		for name, v := range meta {
			meta[name] = strings.ReplaceAll(v, k, redactedKey)
		}
	}
	if st.Env.Services.Trace != nil {
		st.Env.Services.Trace(st, t.source, t.severity, msg, meta)
	} else if st.Env.Log != nil {
		level := slog.LevelDebug
		switch t.severity {
		case "information":
			level = slog.LevelInfo
		case "error":
			level = slog.LevelError
		}
		st.Env.Log.Log(st.Ctx, level, msg, "source", t.source, "requestId", st.X.RequestId, "metadata", meta)
	}
	return nil
}

// cloneResponse copies a response so a return-response can change status and
// headers without changing the variable it came from.
func cloneResponse(r *expr.Response) *expr.Response {
	c := *r
	c.Headers = r.Headers.Clone()
	if c.Headers == nil {
		c.Headers = http.Header{}
	}
	return &c
}
