package policy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

func init() {
	msgSections := []string{SectionInbound, SectionOutbound, SectionOnError}
	register("find-and-replace", nil, compileFindAndReplace)
	register("json-to-xml", msgSections, compileJSONToXML)
	register("xml-to-json", msgSections, compileXMLToJSON)
	register("jsonp", []string{SectionOutbound}, compileJSONP)
	register("log-to-eventhub", nil, compileLogToEventHub)
	register("emit-metric", nil, compileEmitMetric)
	register("llm-emit-token-metric", []string{SectionInbound}, compileTokenMetric)
	register("azure-openai-emit-token-metric", []string{SectionInbound}, compileTokenMetric)
	register("redirect-content-urls", []string{SectionInbound, SectionOutbound}, compileRedirectContentURLs)
}

// ReasonTransformFailure is raised when a body cannot be converted (not
// valid JSON or XML).
const ReasonTransformFailure = "BodyTransformationFailure"

// targetMessage returns the body and headers of the message a step changes.
func (st *State) targetMessage(target int) (*expr.Body, http.Header) {
	if target == targetResponse {
		resp := st.response()
		return resp.Body, resp.Headers
	}
	return st.X.Request.Body, requestHeaders(st)
}

// readTarget buffers the body of the target message.
func (st *State) readTarget(target int) ([]byte, http.Header, error) {
	body, h := st.targetMessage(target)
	if body == nil {
		return nil, h, nil
	}
	data, err := body.Bytes()
	if err != nil {
		reason := ReasonClientConnectionFailure
		if target == targetResponse {
			reason = ReasonBackendConnectionFailure
		}
		return nil, h, &Error{Reason: reason, Message: "reading the message body failed", Err: err}
	}
	return data, h, nil
}

// replaceTarget installs data as the target message's body (set-body,
// find-and-replace, the conversions). Replacing the live backend response's
// body releases its stream.
func (st *State) replaceTarget(target int, data []byte) {
	if target == targetResponse {
		resp := st.response()
		if st.building == nil {
			st.Close()
		}
		resp.Body = expr.NewBodyBytes(data)
		return
	}
	st.X.Request.Body = expr.NewBodyBytes(data)
}

// findAndReplace is find-and-replace: replace every occurrence of a string
// in the body.
type findAndReplace struct {
	target   int
	from, to *expr.Value
}

func compileFindAndReplace(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "from", "to")
	b.children(el)
	if !b.require(el, attrs, "from", "to") {
		return nil
	}
	f := &findAndReplace{target: b.target, from: b.value(attrs["from"]), to: b.value(attrs["to"])}
	if f.from == nil || f.to == nil {
		return nil
	}
	return f
}

func (f *findAndReplace) Run(st *State) error {
	from, err := f.from.String(&st.X)
	if err != nil {
		return err
	}
	to, err := f.to.String(&st.X)
	if err != nil {
		return err
	}
	if from == "" {
		return nil
	}
	data, _, err := st.readTarget(f.target)
	if err != nil || data == nil {
		return err
	}
	if !bytes.Contains(data, []byte(from)) {
		return nil
	}
	st.replaceTarget(f.target, bytes.ReplaceAll(data, []byte(from), []byte(to)))
	return nil
}

// conversionGate is what json-to-xml and xml-to-json share: when to apply.
type conversionGate struct {
	target        int
	always        *expr.Value // apply: "always" or the content-type condition
	considerAcc   *expr.Value // nil = default true
	defaultAccept bool
	accepts       string // "xml" or "json": what Accept must ask for
}

func compileGate(b *builder, el *policyxml.Element, attrs map[string]policyxml.Attr, typeValue, accepts string) conversionGate {
	g := conversionGate{target: b.target, defaultAccept: true, accepts: accepts}
	if a, ok := attrs["apply"]; ok {
		g.always = b.value(a)
		if g.always != nil && g.always.IsConst() {
			switch strings.ToLower(a.Value) {
			case "always", typeValue, typeValue + "-only":
			default:
				b.errorf(a.ValuePos, `%s apply must be "always" or %q, got %q`, el.Name, typeValue, a.Value)
			}
		}
	} else {
		b.errorf(el.Pos, "<%s> needs attribute \"apply\"", el.Name)
	}
	if a, ok := attrs["consider-accept-header"]; ok {
		g.considerAcc = b.value(a)
	}
	return g
}

// applies reports whether the conversion runs for this message; isType
// reports whether a media type is the source format.
func (g *conversionGate) applies(st *State, h http.Header, isType func(string) bool) (bool, error) {
	if g.always != nil {
		mode, err := g.always.String(&st.X)
		if err != nil {
			return false, err
		}
		if !strings.EqualFold(strings.TrimSpace(mode), "always") {
			mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
			if !isType(mt) {
				return false, nil
			}
		}
	}
	consider := g.defaultAccept
	if g.considerAcc != nil {
		c, err := g.considerAcc.Bool(&st.X)
		if err != nil {
			return false, err
		}
		consider = c
	}
	if consider {
		accept := strings.ToLower(strings.Join(st.X.Request.Headers.Values("Accept"), ","))
		if !strings.Contains(accept, g.accepts) {
			return false, nil
		}
	}
	return true, nil
}

func isJSONType(mt string) bool {
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

func isXMLType(mt string) bool {
	return mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml")
}

// jsonToXML is json-to-xml.
type jsonToXML struct {
	gate          conversionGate
	nsSeparator   string
	nsPrefix      string
	attributeName string
}

func compileJSONToXML(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "apply", "consider-accept-header", "parse-date", "namespace-separator", "namespace-prefix", "attribute-block-name")
	b.children(el)
	j := &jsonToXML{gate: compileGate(b, el, attrs, "content-type-json", "xml")}
	b.constBool(attrs["parse-date"], true)
	if a, ok := attrs["namespace-separator"]; ok {
		if utf8.RuneCountInString(a.Value) != 1 || expr.IsExpression(a.Value) {
			b.errorf(a.ValuePos, "namespace-separator must be one character, got %q", a.Value)
		}
		j.nsSeparator = a.Value
	}
	j.nsPrefix = attrs["namespace-prefix"].Value
	j.attributeName = attrs["attribute-block-name"].Value
	return j
}

func (j *jsonToXML) Run(st *State) error {
	_, h := st.targetMessage(j.gate.target)
	ok, err := j.gate.applies(st, h, isJSONType)
	if err != nil || !ok {
		return err
	}
	data, h, err := st.readTarget(j.gate.target)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	v, err := expr.ParseJSON(string(data))
	if err != nil {
		return &Error{Reason: ReasonTransformFailure, Message: "json-to-xml: the body is not valid JSON: " + err.Error(), Err: err}
	}
	var out bytes.Buffer
	w := &xmlWriter{buf: &out, sep: j.nsSeparator, nsPrefix: j.nsPrefix, attrs: j.attributeName}
	w.document(v)
	return j.finish(st, h, out.Bytes())
}

func (j *jsonToXML) finish(st *State, h http.Header, data []byte) error {
	st.replaceTarget(j.gate.target, data)
	h.Set("Content-Type", "application/xml")
	h.Del("Content-Length")
	return nil
}

// xmlWriter renders JSON tokens as XML the way APIM (Json.NET) does: an
// object's properties become child elements, an array repeats its
// property's element, primitives become text.
type xmlWriter struct {
	buf      *bytes.Buffer
	sep      string
	nsPrefix string
	attrs    string
}

// document writes v as one XML document: an object with a single object
// property becomes that element; anything else is wrapped in <Document>,
// a top-level array's items as <Item> elements.
func (w *xmlWriter) document(v any) {
	switch t := v.(type) {
	case *expr.JObject:
		if t.Len() == 1 {
			p := t.Properties()[0]
			if _, inner := p.Value.(*expr.JObject); inner {
				w.element(p.Name, p.Value)
				return
			}
		}
	case *expr.JArray:
		w.buf.WriteString("<Document>")
		w.element("Item", t)
		w.buf.WriteString("</Document>")
		return
	}
	w.element("Document", v)
}

func (w *xmlWriter) name(n string) string {
	if w.sep != "" && w.sep != ":" {
		n = strings.Replace(n, w.sep, ":", 1)
	}
	return encodeXMLName(n, w.sep != "")
}

func (w *xmlWriter) element(name string, v any) {
	if a, ok := v.(*expr.JArray); ok {
		for _, item := range a.Items {
			w.element(name, item)
		}
		if len(a.Items) == 0 {
			w.buf.WriteString("<" + w.name(name) + " />")
		}
		return
	}
	n := w.name(name)
	w.buf.WriteString("<" + n)
	o, isObj := v.(*expr.JObject)
	var children []*expr.JProperty
	if isObj {
		for _, p := range o.Properties() {
			switch {
			case w.attrs != "" && p.Name == w.attrs:
				if ao, ok := p.Value.(*expr.JObject); ok {
					for _, ap := range ao.Properties() {
						w.attr(ap.Name, ap.Value)
					}
					continue
				}
				children = append(children, p)
			case w.nsPrefix != "" && (p.Name == w.nsPrefix || strings.HasPrefix(p.Name, w.nsPrefix+":") || w.sep != "" && strings.HasPrefix(p.Name, w.nsPrefix+w.sep)):
				w.attr(p.Name, p.Value)
			default:
				children = append(children, p)
			}
		}
	}
	text := ""
	if !isObj {
		text = jsonText(v)
	}
	if len(children) == 0 && text == "" {
		w.buf.WriteString(" />")
		return
	}
	w.buf.WriteByte('>')
	for _, c := range children {
		w.element(c.Name, c.Value)
	}
	xml.EscapeText(w.buf, []byte(text))
	w.buf.WriteString("</" + n + ">")
}

func (w *xmlWriter) attr(name string, v any) {
	w.buf.WriteString(" " + w.name(name) + `="`)
	xml.EscapeText(w.buf, []byte(jsonText(v)))
	w.buf.WriteByte('"')
}

// jsonText is the XML text of a JSON primitive (Json.NET's spelling).
func jsonText(v any) string {
	if jv, ok := v.(*expr.JValue); ok {
		v = jv.V
	}
	switch t := v.(type) {
	case nil:
		return ""
	case bool:
		if t {
			return "true"
		}
		return "false"
	case string:
		return t
	}
	return expr.ToString(v)
}

// encodeXMLName makes a valid XML name as .NET's XmlConvert.EncodeName
// does: an invalid character becomes _xHHHH_. A colon is kept when
// namespaces are in use.
func encodeXMLName(n string, keepColon bool) string {
	if n == "" {
		return "_"
	}
	var sb strings.Builder
	for i, r := range n {
		ok := r == '_' || unicode.IsLetter(r) || keepColon && r == ':' && i > 0
		if i > 0 && !ok {
			ok = r == '-' || r == '.' || unicode.IsDigit(r)
		}
		if ok {
			sb.WriteRune(r)
			continue
		}
		fmt.Fprintf(&sb, "_x%04X_", r)
	}
	return sb.String()
}

// xmlToJSON is xml-to-json.
type xmlToJSON struct {
	gate        conversionGate
	direct      bool
	alwaysArray bool
}

func compileXMLToJSON(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "kind", "apply", "consider-accept-header", "always-array-child-elements")
	b.children(el)
	x := &xmlToJSON{gate: compileGate(b, el, attrs, "content-type-xml", "json")}
	if !b.require(el, attrs, "kind") {
		return nil
	}
	switch attrs["kind"].Value {
	case "direct":
		x.direct = true
	case "javascript-friendly":
	default:
		b.errorf(attrs["kind"].ValuePos, `xml-to-json kind must be "javascript-friendly" or "direct", got %q`, attrs["kind"].Value)
	}
	x.alwaysArray = b.constBool(attrs["always-array-child-elements"], false)
	return x
}

func (x *xmlToJSON) Run(st *State) error {
	_, h := st.targetMessage(x.gate.target)
	ok, err := x.gate.applies(st, h, isXMLType)
	if err != nil || !ok {
		return err
	}
	data, h, err := st.readTarget(x.gate.target)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	root, decl, err := parseXMLTree(data)
	if err != nil {
		return &Error{Reason: ReasonTransformFailure, Message: "xml-to-json: the body is not valid XML: " + err.Error(), Err: err}
	}
	out := &jsonObject{}
	if x.direct && decl != nil {
		d := &jsonObject{}
		for _, a := range decl {
			d.set("@"+a[0], a[1])
		}
		out.set("?xml", d)
	}
	out.set(x.qname(root.name), x.convert(root))
	st.replaceTarget(x.gate.target, appendJSON(nil, out))
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	return nil
}

func (x *xmlToJSON) qname(n xml.Name) string {
	if x.direct && n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// convert turns one element into a JSON value: text only → string, empty
// → null, otherwise an object of attributes, child elements (repeated names
// become arrays) and "#text".
func (x *xmlToJSON) convert(n *xmlNode) any {
	if len(n.attrs) == 0 && len(n.children) == 0 {
		if strings.TrimSpace(n.text) == "" {
			return nil
		}
		return n.text
	}
	o := &jsonObject{}
	for _, a := range n.attrs {
		name := x.qname(a.Name)
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" && a.Name.Space == "" {
			if !x.direct {
				continue
			}
			if a.Name.Space == "xmlns" {
				name = "xmlns:" + a.Name.Local
			}
		}
		if x.direct {
			name = "@" + name
		}
		o.set(name, a.Value)
	}
	var order []string
	groups := map[string][]any{}
	for _, c := range n.children {
		name := x.qname(c.name)
		if _, seen := groups[name]; !seen {
			order = append(order, name)
		}
		groups[name] = append(groups[name], x.convert(c))
	}
	for _, name := range order {
		items := groups[name]
		if len(items) == 1 && !x.alwaysArray {
			o.set(name, items[0])
			continue
		}
		o.set(name, items)
	}
	if t := strings.TrimSpace(n.text); t != "" {
		o.set("#text", t)
	}
	return o
}

// jsonObject is a JSON object that keeps its key order.
type jsonObject struct {
	keys []string
	vals []any
}

func (o *jsonObject) set(k string, v any) {
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// appendJSON writes v (nil, string, []any or *jsonObject) as compact JSON
// without HTML escaping, as Json.NET does.
func appendJSON(dst []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return logs.AppendJSONString(dst, t)
	case []any:
		dst = append(dst, '[')
		for i, item := range t {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSON(dst, item)
		}
		return append(dst, ']')
	case *jsonObject:
		dst = append(dst, '{')
		for i, k := range t.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = logs.AppendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSON(dst, t.vals[i])
		}
		return append(dst, '}')
	}
	return logs.AppendJSONString(dst, fmt.Sprint(v))
}

// xmlNode is a parsed XML element.
type xmlNode struct {
	name     xml.Name
	attrs    []xml.Attr
	children []*xmlNode
	text     string
}

// maxXMLDepth bounds nesting so hostile bodies cannot exhaust the stack.
const maxXMLDepth = 256

// parseXMLTree parses a document into its root element and the attributes
// of its XML declaration (nil when absent). Namespace prefixes are kept as
// written.
func parseXMLTree(data []byte) (*xmlNode, [][2]string, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var stack []*xmlNode
	var root *xmlNode
	var decl [][2]string
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if t.Target == "xml" {
				for _, m := range declAttr.FindAllStringSubmatch(string(t.Inst), -1) {
					decl = append(decl, [2]string{m[1], m[3]})
				}
			}
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, nil, errors.New("more than one root element")
			}
			if len(stack) >= maxXMLDepth {
				return nil, nil, errors.New("elements nested too deeply")
			}
			n := &xmlNode{name: t.Name, attrs: append([]xml.Attr(nil), t.Attr...)}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, nil, errors.New("unexpected end element")
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			} else if strings.TrimSpace(string(t)) != "" {
				return nil, nil, errors.New("text outside the root element")
			}
		}
	}
	if root == nil || len(stack) > 0 {
		return nil, nil, errors.New("no complete root element")
	}
	return root, decl, nil
}

var declAttr = regexp.MustCompile(`([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(["'])(.*?)["']`)

// jsonpPolicy wraps a JSON response in the callback named by a query parameter.
type jsonpPolicy struct{ param string }

func compileJSONP(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "callback-parameter-name")
	b.children(el)
	if !b.require(el, attrs, "callback-parameter-name") {
		return nil
	}
	return &jsonpPolicy{param: attrs["callback-parameter-name"].Value}
}

// jsIdentifier limits callbacks to dotted JavaScript identifiers, so the
// parameter cannot inject script.
var jsIdentifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$`)

func (j *jsonpPolicy) Run(st *State) error {
	cb, ok := st.X.Request.Url.Query.Get(j.param)
	if !ok || cb == "" {
		if st.X.Request.OriginalUrl != nil {
			cb, ok = st.X.Request.OriginalUrl.Query.Get(j.param)
		}
	}
	if !ok || cb == "" || !jsIdentifier.MatchString(cb) {
		return nil
	}
	data, h, err := st.readTarget(targetResponse)
	if err != nil {
		return err
	}
	out := make([]byte, 0, len(cb)+len(data)+2)
	out = append(out, cb...)
	out = append(out, '(')
	out = append(out, data...)
	out = append(out, ')')
	st.replaceTarget(targetResponse, out)
	h.Set("Content-Type", "application/javascript")
	h.Del("Content-Length")
	return nil
}

// logToEventHub is log-to-eventhub: one message per call, written as one
// line to the logger configured under that id.
type logToEventHub struct {
	logger       string
	partitionID  *expr.Value
	partitionKey *expr.Value
	message      *expr.Value
}

func compileLogToEventHub(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "logger-id", "partition-id", "partition-key")
	b.children(el)
	if !b.require(el, attrs, "logger-id") {
		return nil
	}
	l := &logToEventHub{logger: attrs["logger-id"].Value, message: b.textValue(el)}
	if a, ok := attrs["partition-id"]; ok {
		l.partitionID = b.value(a)
	}
	if a, ok := attrs["partition-key"]; ok {
		l.partitionKey = b.value(a)
	}
	if l.message == nil {
		return nil
	}
	return l
}

func (l *logToEventHub) Run(st *State) error {
	w, ok := st.Env.Services.Loggers[l.logger]
	if !ok {
		return &Error{Reason: "LoggerNotFound", Message: fmt.Sprintf("logger %q is not configured (add it under loggers: in gateway.yaml)", l.logger)}
	}
	// Partition attributes are evaluated for their errors; a local sink has
	// no partitions.
	for _, v := range []*expr.Value{l.partitionID, l.partitionKey} {
		if v != nil {
			if _, err := v.String(&st.X); err != nil {
				return err
			}
		}
	}
	msg, err := l.message.String(&st.X)
	if err != nil {
		return err
	}
	// One message is one line: newlines inside it are escaped so a reader
	// can split the sink on '\n'.
	line := make([]byte, 0, len(msg)+1)
	line = append(line, strings.ReplaceAll(strings.ReplaceAll(msg, "\r", `\r`), "\n", `\n`)...)
	line = append(line, '\n')
	if _, err := w.Write(line); err != nil {
		return &Error{Reason: "LoggerFailure", Message: fmt.Sprintf("writing to logger %q failed", l.logger), Err: err}
	}
	return nil
}

// emitMetric is emit-metric: a Prometheus counter apimgw_custom_<name>
// incremented by value, with the dimensions as labels. The counter is
// registered on first use in Services.Registerer, once per compiled policy
// (policies emitting the same name with the same dimensions share it).
type emitMetric struct {
	name       string
	metricName string
	namespace  *expr.Value
	value      *expr.Value
	dims       []metricDim

	once    sync.Once
	counter *prometheus.CounterVec
	err     error
}

type metricDim struct {
	name  string
	label string
	value *expr.Value // nil: APIM's default for known dimensions
}

// maxMetricDimensions bounds the dimensions (labels) of one metric; each
// one multiplies the series Prometheus keeps.
const maxMetricDimensions = 16

func compileEmitMetric(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "name", "namespace", "value")
	if !b.require(el, attrs, "name") {
		return nil
	}
	m := &emitMetric{name: attrs["name"].Value, metricName: "apimgw_custom_" + promName(attrs["name"].Value)}
	if a, ok := attrs["namespace"]; ok {
		m.namespace = b.value(a)
	}
	if a, ok := attrs["value"]; ok {
		m.value = b.value(a)
	}
	m.dims = compileDims(b, el)
	return m
}

// compileDims compiles the dimension children of emit-metric and the token
// metric policies.
func compileDims(b *builder, el *policyxml.Element) []metricDim {
	var dims []metricDim
	seen := map[string]bool{"namespace": true}
	for _, d := range b.children(el, "dimension") {
		da := b.attrs(d, "name", "value")
		b.children(d)
		if !b.require(d, da, "name") {
			continue
		}
		dim := metricDim{name: da["name"].Value, label: promName(da["name"].Value)}
		if seen[dim.label] {
			b.errorf(d.Pos, "emit-metric: dimension %q repeats a label name", dim.name)
			continue
		}
		seen[dim.label] = true
		if a, ok := da["value"]; ok {
			dim.value = b.value(a)
		}
		dims = append(dims, dim)
	}
	if len(dims) > maxMetricDimensions {
		b.errorf(el.Pos, "%s allows at most %d dimensions, got %d", el.Name, maxMetricDimensions, len(dims))
	}
	return dims
}

// promName turns a metric or dimension name into a Prometheus name:
// lower case, runs of other characters as one underscore.
func promName(s string) string {
	var sb strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			sb.WriteRune(r)
			under = false
			continue
		}
		if !under && sb.Len() > 0 {
			sb.WriteByte('_')
			under = true
		}
	}
	out := strings.TrimRight(sb.String(), "_")
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "m_" + out
	}
	return out
}

func (m *emitMetric) register(reg prometheus.Registerer) {
	labels := []string{"namespace"}
	for _, d := range m.dims {
		labels = append(labels, d.label)
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.metricName, Help: "Custom metric " + strconv.Quote(m.name) + " emitted by the emit-metric policy."}, labels)
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				m.counter = existing
				return
			}
		}
		m.err = fmt.Errorf("register metric %s: %w", m.metricName, err)
		return
	}
	m.counter = c
}

func (m *emitMetric) Run(st *State) error {
	if ok, err := m.ensure(st); !ok {
		return err
	}
	value := 1.0
	if m.value != nil {
		s, err := m.value.String(&st.X)
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f < 0 {
			return &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("emit-metric value must be a non-negative number, got %q", s)}
		}
		value = f
	}
	labels, err := m.labels(st)
	if err != nil {
		return err
	}
	return m.add(labels, value)
}

// ensure registers the counter on first use. It reports false when the
// counter could not be registered (another policy registered the same
// name with other dimensions): that is logged once and the metric is
// skipped, since observability must not fail the request.
func (m *emitMetric) ensure(st *State) (bool, error) {
	if st.Env.Services.Registerer == nil {
		return false, &Error{Reason: "MetricsNotConfigured", Message: m.name + ": the gateway has no metrics registry"}
	}
	m.once.Do(func() {
		m.register(st.Env.Services.Registerer)
		if m.err != nil && st.Env.Log != nil {
			st.Env.Log.Error("custom metric disabled", "metric", m.metricName, "error", m.err.Error())
		}
	})
	return m.err == nil, nil
}

// labels evaluates the namespace and dimension values.
func (m *emitMetric) labels(st *State) ([]string, error) {
	ns := "API Management"
	if m.namespace != nil {
		s, err := m.namespace.String(&st.X)
		if err != nil {
			return nil, err
		}
		ns = s
	}
	labels := make([]string, 0, len(m.dims)+1)
	labels = append(labels, ns)
	for _, d := range m.dims {
		if d.value == nil {
			labels = append(labels, defaultDimension(st, d.name))
			continue
		}
		s, err := d.value.String(&st.X)
		if err != nil {
			return nil, err
		}
		labels = append(labels, s)
	}
	return labels, nil
}

func (m *emitMetric) add(labels []string, value float64) error {
	c, err := m.counter.GetMetricWithLabelValues(labels...)
	if err != nil {
		return &Error{Reason: "MetricRegistrationFailure", Message: err.Error(), Err: err}
	}
	c.Add(value)
	return nil
}

// tokenMetric is llm-emit-token-metric and azure-openai-emit-token-metric:
// once the response is final, the token counts of its "usage" object are
// added to the counters apimgw_custom_prompt_tokens,
// apimgw_custom_completion_tokens and apimgw_custom_total_tokens, labelled
// with the namespace and the dimensions (evaluated when the policy runs).
// Streamed (text/event-stream) responses are not counted: reading them
// would end the streaming.
type tokenMetric struct {
	prompt, completion, total *emitMetric
}

func compileTokenMetric(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "namespace")
	var ns *expr.Value
	if a, ok := attrs["namespace"]; ok {
		ns = b.value(a)
	}
	dims := compileDims(b, el)
	metric := func(name string) *emitMetric {
		return &emitMetric{name: name, metricName: "apimgw_custom_" + promName(name), namespace: ns, dims: dims}
	}
	return &tokenMetric{prompt: metric("Prompt Tokens"), completion: metric("Completion Tokens"), total: metric("Total Tokens")}
}

func (t *tokenMetric) Run(st *State) error {
	for _, m := range []*emitMetric{t.prompt, t.completion, t.total} {
		if ok, err := m.ensure(st); !ok {
			return err
		}
	}
	labels, err := t.prompt.labels(st)
	if err != nil {
		return err
	}
	deferToResponse(st, func(st *State) {
		resp := st.X.Response
		if resp == nil || resp.Body == nil || resp.StatusCode >= 300 {
			return
		}
		if mt, _, _ := mime.ParseMediaType(resp.Headers.Get("Content-Type")); mt == "text/event-stream" {
			return
		}
		data, err := resp.Body.Bytes()
		if err != nil || len(data) == 0 {
			return
		}
		prompt, completion, total, ok := tokenUsage(data)
		if !ok {
			return
		}
		for _, c := range []struct {
			m *emitMetric
			n float64
		}{{t.prompt, prompt}, {t.completion, completion}, {t.total, total}} {
			if err := c.m.add(labels, c.n); err != nil && st.Env.Log != nil {
				st.Env.Log.Warn("token metric not recorded", "metric", c.m.metricName, "error", err.Error())
			}
		}
	})
	return nil
}

// tokenUsage reads the token counts of an OpenAI-style response: usage
// {prompt_tokens, completion_tokens, total_tokens} or, for the Responses
// API, {input_tokens, output_tokens, total_tokens}.
func tokenUsage(data []byte) (prompt, completion, total float64, ok bool) {
	v, err := expr.ParseJSON(string(data))
	if err != nil {
		return 0, 0, 0, false
	}
	o, isObj := v.(*expr.JObject)
	if !isObj {
		return 0, 0, 0, false
	}
	u, isObj := o.Get("usage").(*expr.JObject)
	if !isObj {
		return 0, 0, 0, false
	}
	num := func(names ...string) float64 {
		for _, n := range names {
			x := u.Get(n)
			if jv, ok := x.(*expr.JValue); ok {
				x = jv.V
			}
			switch t := x.(type) {
			case int64:
				return float64(t)
			case float64:
				return t
			}
		}
		return 0
	}
	prompt, completion = num("prompt_tokens", "input_tokens"), num("completion_tokens", "output_tokens")
	total = num("total_tokens")
	if total == 0 {
		total = prompt + completion
	}
	return prompt, completion, total, prompt > 0 || completion > 0 || total > 0
}

// redirectContentURLs is redirect-content-urls: in outbound, links to the
// backend in the response body become links to the gateway; in inbound,
// links to the gateway in the request body become links to the backend.
type redirectContentURLs struct{ target int }

func compileRedirectContentURLs(b *builder, el *policyxml.Element, path string) Step {
	b.noAttrs(el)
	b.children(el)
	return &redirectContentURLs{target: b.target}
}

func (r *redirectContentURLs) Run(st *State) error {
	backend, gateway := r.urls(st)
	if backend == "" || gateway == "" {
		return nil
	}
	from, to := gateway, backend
	if r.target == targetResponse {
		from, to = backend, gateway
	}
	data, _, err := st.readTarget(r.target)
	if err != nil || data == nil || !bytes.Contains(data, []byte(from)) {
		return err
	}
	st.replaceTarget(r.target, bytes.ReplaceAll(data, []byte(from), []byte(to)))
	return nil
}

// urls returns the backend base URL and the API's public base URL, without
// trailing slashes.
func (r *redirectContentURLs) urls(st *State) (backend, gateway string) {
	if st.BackendURL != nil {
		u := *st.BackendURL
		u.RawQuery, u.Fragment = "", ""
		backend = strings.TrimRight(u.String(), "/")
	}
	if o := st.X.Request.OriginalUrl; o != nil {
		g := &expr.URL{Scheme: o.Scheme, Host: o.Host, Port: o.Port, Path: "/" + strings.Trim(st.APIPath, "/")}
		gateway = strings.TrimRight(g.String(), "/")
	}
	return backend, gateway
}

// defaultDimension is APIM's value for a dimension given without value:
// the request's API, operation, product, user, subscription, region or
// gateway for the well-known names, "N/A" otherwise.
func defaultDimension(st *State, name string) string {
	x := &st.X
	v := ""
	switch strings.ToLower(strings.ReplaceAll(name, " ", "")) {
	case "apiid":
		if x.Api != nil {
			v = x.Api.Id
		}
	case "operationid":
		if x.Operation != nil {
			v = x.Operation.Id
		}
	case "productid":
		if x.Product != nil {
			v = x.Product.Id
		}
	case "userid":
		if x.User != nil {
			v = x.User.Id
		}
	case "subscriptionid":
		if x.Subscription != nil {
			v = x.Subscription.Id
		}
	case "location":
		if x.Deployment != nil {
			v = x.Deployment.Region
		}
	case "gatewayid":
		if x.Deployment != nil && x.Deployment.Gateway != nil {
			v = x.Deployment.Gateway.Id
		}
	}
	if v == "" {
		return "N/A"
	}
	return v
}
