package policy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

// The validate-* policies check requests and responses against the
// operation's definition in the API's OpenAPI file (gateway.yaml openapi:),
// as APIM checks them against the API schema.

func init() {
	register("validate-content", []string{SectionInbound, SectionOutbound, SectionOnError}, compileValidateContent)
	register("validate-parameters", []string{SectionInbound}, compileValidateParameters)
	register("validate-headers", []string{SectionOutbound, SectionOnError}, compileValidateHeaders)
	register("validate-status-code", []string{SectionOutbound, SectionOnError}, compileValidateStatusCode)
}

// Validation actions.
const (
	actIgnore = iota
	actDetect
	actPrevent
)

func (b *builder) action(a policyxml.Attr, def int) int {
	if a.Name == "" {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(a.Value)) {
	case "ignore":
		return actIgnore
	case "detect":
		return actDetect
	case "prevent":
		return actPrevent
	}
	b.errorf(a.ValuePos, "%s must be ignore, detect or prevent, got %q", a.Name, a.Value)
	return def
}

// validationError is one entry of errors-variable-name, as APIM reports it.
type validationError struct {
	Name           string `json:"Name"`
	Type           string `json:"Type"`
	ValidationRule string `json:"ValidationRule"`
	Details        string `json:"Details"`
	Action         string `json:"Action"`
}

// validation collects the findings of one policy run and applies actions.
type validation struct {
	policy  string
	varName string
	errs    []validationError
	prevent *validationError
}

func (v *validation) add(action int, e validationError) {
	switch action {
	case actIgnore:
		return
	case actDetect:
		e.Action = "detect"
	case actPrevent:
		e.Action = "prevent"
		if v.prevent == nil {
			v.prevent = &e
		}
	}
	v.errs = append(v.errs, e)
}

// finish stores the errors variable, logs detected errors and returns the
// error that stops the request when an action was prevent: 400 for a
// request, 502 for a response (the backend broke its contract).
func (v *validation) finish(st *State, response bool) error {
	if v.varName != "" {
		data, _ := json.Marshal(v.errs)
		if val, err := expr.ParseJSON(string(data)); err == nil {
			st.X.Variables[v.varName] = val
		}
	}
	if len(v.errs) > 0 && v.prevent == nil && st.Env.Log != nil {
		// detect: the request goes on; say what was found.
		st.Env.Log.Info(v.policy+" detected problems", "errors", len(v.errs), "first", v.errs[0].Details, "requestId", st.X.RequestId)
	}
	if v.prevent == nil {
		return nil
	}
	status, msg := http.StatusBadRequest, v.prevent.Details
	if response {
		status = http.StatusBadGateway
	}
	return &Error{Reason: "ValidationFailure", Message: msg, Status: status, ClientMessage: msg}
}

// --- validate-content ---

type contentRule struct {
	typ        string // media type or "*/*"
	validateAs string // json | xml | soap
	action     int
}

type validateContent struct {
	target       int
	unspecified  int
	maxSize      int64
	sizeExceeded int
	varName      string
	anyType      string
	missingType  string
	typeMap      map[string]string
	rules        []contentRule
}

func compileValidateContent(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "unspecified-content-type-action", "max-size", "size-exceeded-action", "errors-variable-name")
	if !b.require(el, attrs, "unspecified-content-type-action", "max-size", "size-exceeded-action") {
		return nil
	}
	v := &validateContent{
		target:       b.target,
		unspecified:  b.action(attrs["unspecified-content-type-action"], actIgnore),
		maxSize:      int64(b.constInt(attrs["max-size"], 0, 0, 4<<20)),
		sizeExceeded: b.action(attrs["size-exceeded-action"], actIgnore),
		varName:      attrs["errors-variable-name"].Value,
		typeMap:      map[string]string{},
	}
	for _, c := range b.children(el, "content-type-map", "content") {
		switch c.Name {
		case "content-type-map":
			ma := b.attrs(c, "any-content-type-value", "missing-content-type-value")
			v.anyType, v.missingType = ma["any-content-type-value"].Value, ma["missing-content-type-value"].Value
			for _, t := range b.children(c, "type") {
				ta := b.attrs(t, "from", "to", "when")
				if _, ok := ta["when"]; ok {
					b.errorf(t.Pos, "<type when=...> is not supported: map content types with from and to")
				}
				if b.require(t, ta, "from", "to") {
					v.typeMap[strings.ToLower(ta["from"].Value)] = strings.ToLower(ta["to"].Value)
				}
			}
		case "content":
			ca := b.attrs(c, "type", "validate-as", "action", "schema-id", "schema-ref", "allow-additional-properties", "case-insensitive-property-names")
			for _, n := range []string{"schema-id", "schema-ref", "case-insensitive-property-names", "allow-additional-properties"} {
				if a, ok := ca[n]; ok {
					b.errorf(a.Pos, "validate-content %s is not supported: apimgw validates against the operation's schema in the API's OpenAPI file", n)
				}
			}
			r := contentRule{typ: "*/*", validateAs: "json", action: b.action(ca["action"], actPrevent)}
			if a, ok := ca["type"]; ok {
				r.typ = strings.ToLower(strings.TrimSpace(a.Value))
			}
			if a, ok := ca["validate-as"]; ok {
				switch r.validateAs = strings.ToLower(a.Value); r.validateAs {
				case "json", "xml", "soap":
				default:
					b.errorf(a.ValuePos, "validate-as must be json, xml or soap, got %q", a.Value)
				}
			}
			v.rules = append(v.rules, r)
		}
	}
	return v
}

func (v *validateContent) Run(st *State) error {
	response := v.target == targetResponse
	var body *expr.Body
	var header http.Header
	if response {
		resp := st.response()
		body, header = resp.Body, resp.Headers
	} else {
		body, header = st.X.Request.Body, st.X.Request.Headers
	}
	var data []byte
	if body != nil {
		var err error
		if data, err = body.Bytes(); err != nil {
			return &Error{Reason: ReasonClientConnectionFailure, Message: "reading the body failed", Err: err}
		}
	}
	res := &validation{policy: "validate-content", varName: v.varName}
	if int64(len(data)) > v.maxSize {
		res.add(v.sizeExceeded, validationError{Name: "body", Type: "body", ValidationRule: "MaxSize",
			Details: fmt.Sprintf("Body size %d bytes exceeds the maximum of %d bytes.", len(data), v.maxSize)})
		return res.finish(st, response)
	}
	if len(data) == 0 {
		return res.finish(st, response)
	}
	ct := v.contentType(header.Get("Content-Type"))
	rule := v.rule(ct)
	if rule == nil {
		res.add(v.unspecified, validationError{Name: ct, Type: "body", ValidationRule: "UnspecifiedContentType",
			Details: fmt.Sprintf("Content type '%s' is not specified for validation.", ct)})
		return res.finish(st, response)
	}
	if err := v.check(st, rule, ct, data, response); err != "" {
		res.add(rule.action, validationError{Name: ct, Type: "body", ValidationRule: "Schema", Details: err})
	}
	return res.finish(st, response)
}

func (v *validateContent) contentType(h string) string {
	ct := ""
	if h != "" {
		if mt, _, err := mime.ParseMediaType(h); err == nil {
			ct = strings.ToLower(mt)
		}
	}
	switch {
	case ct == "" && v.missingType != "":
		ct = strings.ToLower(v.missingType)
	case ct != "" && v.anyType != "":
		if _, mapped := v.typeMap[ct]; !mapped {
			ct = strings.ToLower(v.anyType)
		}
	}
	if to, ok := v.typeMap[ct]; ok {
		ct = to
	}
	return ct
}

func (v *validateContent) rule(ct string) *contentRule {
	for i := range v.rules {
		if v.rules[i].typ == ct {
			return &v.rules[i]
		}
	}
	for i := range v.rules {
		if v.rules[i].typ == "*/*" {
			return &v.rules[i]
		}
	}
	return nil
}

// check validates data; it returns the problem, or "".
func (v *validateContent) check(st *State, r *contentRule, ct string, data []byte, response bool) string {
	if r.validateAs != "json" {
		dec := xml.NewDecoder(bytes.NewReader(data))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				return ""
			}
			if err != nil {
				return "The body is not well-formed XML: " + err.Error()
			}
		}
	}
	var value any
	if err := json.Unmarshal(data, &value); err != nil {
		return "The body is not valid JSON: " + err.Error()
	}
	schema := v.schema(st, ct, response)
	if schema == nil {
		return ""
	}
	opt := openapi3.VisitAsRequest()
	if response {
		opt = openapi3.VisitAsResponse()
	}
	if err := schema.VisitJSON(value, opt); err != nil {
		return fmt.Sprintf("Body does not conform to the schema of '%s': %v", ct, err)
	}
	return ""
}

// schema is the operation's schema for the body of this media type: the
// request body's, or the response's for its status code.
func (v *validateContent) schema(st *State, ct string, response bool) *openapi3.Schema {
	if st.Spec == nil || st.Spec.Route == nil {
		return nil
	}
	op := st.Spec.Route.Operation
	var content openapi3.Content
	if response {
		if op.Responses == nil {
			return nil
		}
		r := op.Responses.Status(st.response().StatusCode)
		if r == nil {
			r = op.Responses.Default()
		}
		if r == nil || r.Value == nil {
			return nil
		}
		content = r.Value.Content
	} else {
		if op.RequestBody == nil || op.RequestBody.Value == nil {
			return nil
		}
		content = op.RequestBody.Value.Content
	}
	mt := content.Get(ct)
	if mt == nil || mt.Schema == nil {
		return nil
	}
	return mt.Schema.Value
}

// --- validate-parameters ---

type paramRules struct {
	specified, unspecified int
	named                  map[string]int // parameter name -> action
}

type validateParameters struct {
	specified, unspecified int
	varName                string
	in                     map[string]*paramRules // "headers", "query", "path"
}

func compileValidateParameters(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "specified-parameter-action", "unspecified-parameter-action", "errors-variable-name")
	if !b.require(el, attrs, "specified-parameter-action", "unspecified-parameter-action") {
		return nil
	}
	v := &validateParameters{
		specified:   b.action(attrs["specified-parameter-action"], actPrevent),
		unspecified: b.action(attrs["unspecified-parameter-action"], actPrevent),
		varName:     attrs["errors-variable-name"].Value,
		in:          map[string]*paramRules{},
	}
	for _, c := range b.children(el, "headers", "query", "path") {
		ca := b.attrs(c, "specified-parameter-action", "unspecified-parameter-action")
		r := &paramRules{specified: b.action(ca["specified-parameter-action"], v.specified), unspecified: b.action(ca["unspecified-parameter-action"], v.unspecified), named: map[string]int{}}
		for _, p := range b.children(c, "parameter") {
			pa := b.attrs(p, "name", "action")
			if b.require(p, pa, "name", "action") {
				r.named[strings.ToLower(pa["name"].Value)] = b.action(pa["action"], r.specified)
			}
		}
		v.in[c.Name] = r
	}
	return v
}

func (v *validateParameters) rules(in string) *paramRules {
	key := in
	switch in {
	case openapi3.ParameterInHeader:
		key = "headers"
	}
	if r, ok := v.in[key]; ok {
		return r
	}
	return &paramRules{specified: v.specified, unspecified: v.unspecified}
}

func (v *validateParameters) Run(st *State) error {
	if st.Spec == nil {
		return &Error{Reason: "ValidationFailure", Message: "validate-parameters needs the API's OpenAPI definition (openapi: in gateway.yaml)"}
	}
	res := &validation{policy: "validate-parameters", varName: v.varName}
	route := st.Spec.Route
	u := st.X.Request.OriginalUrl
	req := &http.Request{Method: st.X.Request.Method, URL: &url.URL{Path: u.Path, RawQuery: u.Query.Encode()}, Header: st.X.Request.Headers}
	input := &openapi3filter.RequestValidationInput{Request: req, PathParams: st.X.Request.MatchedParameters, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true, MultiError: true}}
	known := map[string]bool{}
	params := append(openapi3.Parameters{}, route.PathItem.Parameters...)
	params = append(params, route.Operation.Parameters...)
	for _, pr := range params {
		p := pr.Value
		if p == nil {
			continue
		}
		known[p.In+"\x00"+strings.ToLower(p.Name)] = true
		rules := v.rules(p.In)
		action, ok := rules.named[strings.ToLower(p.Name)]
		if !ok {
			action = rules.specified
		}
		if err := openapi3filter.ValidateParameter(st.Ctx, input, p); err != nil {
			res.add(action, validationError{Name: p.Name, Type: p.In, ValidationRule: "Schema", Details: fmt.Sprintf("%s parameter '%s': %v", p.In, p.Name, err)})
		}
	}
	for _, name := range u.Query.Names() {
		if !known[openapi3.ParameterInQuery+"\x00"+strings.ToLower(name)] && name != st.X.Api.SubscriptionKeyQueryParamName {
			res.add(v.rules(openapi3.ParameterInQuery).unspecified, validationError{Name: name, Type: "query", ValidationRule: "Unspecified",
				Details: fmt.Sprintf("Query parameter '%s' is not specified.", name)})
		}
	}
	return res.finish(st, false)
}

// --- validate-headers ---

type validateHeaders struct {
	specified, unspecified int
	varName                string
	named                  map[string]int
}

// standardHeaders are response headers every server sends; they are never
// "unspecified".
var standardHeaders = map[string]bool{"Content-Type": true, "Content-Length": true, "Date": true, "Server": true,
	"Cache-Control": true, "Etag": true, "Last-Modified": true, "Vary": true, "Connection": true, "Transfer-Encoding": true}

func compileValidateHeaders(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "specified-header-action", "unspecified-header-action", "errors-variable-name")
	if !b.require(el, attrs, "specified-header-action", "unspecified-header-action") {
		return nil
	}
	v := &validateHeaders{specified: b.action(attrs["specified-header-action"], actPrevent), unspecified: b.action(attrs["unspecified-header-action"], actPrevent),
		varName: attrs["errors-variable-name"].Value, named: map[string]int{}}
	for _, h := range b.children(el, "header") {
		ha := b.attrs(h, "name", "action")
		if b.require(h, ha, "name", "action") {
			v.named[http.CanonicalHeaderKey(ha["name"].Value)] = b.action(ha["action"], v.specified)
		}
	}
	return v
}

func (v *validateHeaders) Run(st *State) error {
	if st.Spec == nil {
		return &Error{Reason: "ValidationFailure", Message: "validate-headers needs the API's OpenAPI definition (openapi: in gateway.yaml)"}
	}
	resp := st.response()
	res := &validation{policy: "validate-headers", varName: v.varName}
	var defined openapi3.Headers
	if rs := st.Spec.Route.Operation.Responses; rs != nil {
		r := rs.Status(resp.StatusCode)
		if r == nil {
			r = rs.Default()
		}
		if r != nil && r.Value != nil {
			defined = r.Value.Headers
		}
	}
	known := map[string]bool{}
	for name, ref := range defined {
		key := http.CanonicalHeaderKey(name)
		known[key] = true
		action, ok := v.named[key]
		if !ok {
			action = v.specified
		}
		val, present := resp.Headers[key]
		if ref == nil || ref.Value == nil {
			continue
		}
		h := ref.Value
		if !present {
			if h.Required {
				res.add(action, validationError{Name: name, Type: "header", ValidationRule: "Required", Details: fmt.Sprintf("Header '%s' is required.", name)})
			}
			continue
		}
		if h.Schema != nil && h.Schema.Value != nil {
			if err := h.Schema.Value.VisitJSON(headerValue(h.Schema.Value, strings.Join(val, ","))); err != nil {
				res.add(action, validationError{Name: name, Type: "header", ValidationRule: "Schema", Details: fmt.Sprintf("Header '%s': %v", name, err)})
			}
		}
	}
	for name := range resp.Headers {
		if !known[name] && !standardHeaders[name] {
			res.add(v.unspecified, validationError{Name: name, Type: "header", ValidationRule: "Unspecified", Details: fmt.Sprintf("Header '%s' is not specified.", name)})
		}
	}
	return res.finish(st, true)
}

// headerValue converts a header string to the JSON type its schema wants.
func headerValue(s *openapi3.Schema, v string) any {
	switch {
	case s.Type.Is(openapi3.TypeInteger), s.Type.Is(openapi3.TypeNumber):
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	case s.Type.Is(openapi3.TypeBoolean):
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return v
}

// --- validate-status-code ---

type validateStatusCode struct {
	unspecified int
	varName     string
	codes       map[int]int
}

func compileValidateStatusCode(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "unspecified-status-code-action", "errors-variable-name", "error-variable-name")
	if !b.require(el, attrs, "unspecified-status-code-action") {
		return nil
	}
	v := &validateStatusCode{unspecified: b.action(attrs["unspecified-status-code-action"], actPrevent), varName: attrs["errors-variable-name"].Value, codes: map[int]int{}}
	if a, ok := attrs["error-variable-name"]; ok && v.varName == "" {
		v.varName = a.Value
	}
	for _, c := range b.children(el, "status-code") {
		ca := b.attrs(c, "code", "action")
		if b.require(c, ca, "code", "action") {
			v.codes[b.constInt(ca["code"], 0, 100, 599)] = b.action(ca["action"], actIgnore)
		}
	}
	return v
}

func (v *validateStatusCode) Run(st *State) error {
	if st.Spec == nil {
		return &Error{Reason: "ValidationFailure", Message: "validate-status-code needs the API's OpenAPI definition (openapi: in gateway.yaml)"}
	}
	code := st.response().StatusCode
	res := &validation{policy: "validate-status-code", varName: v.varName}
	action, listed := v.codes[code]
	if !listed {
		action = v.unspecified
	}
	rs := st.Spec.Route.Operation.Responses
	specified := rs != nil && (rs.Status(code) != nil || rs.Default() != nil)
	if !specified {
		res.add(action, validationError{Name: strconv.Itoa(code), Type: "statusCode", ValidationRule: "Unspecified",
			Details: fmt.Sprintf("Status code %d is not specified for this operation.", code)})
	}
	return res.finish(st, true)
}
