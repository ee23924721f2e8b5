package expr

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Context is what expressions see as `context`. The policy engine fills one
// per request; it is not safe for concurrent use by several goroutines.
type Context struct {
	Request      *Request
	Response     *Response // nil until the backend (or return-response) produced one
	Variables    Variables
	Subscription *Subscription // nil when the request had no subscription
	User         *User
	Product      *Product // nil when none
	Api          *Api
	Operation    *Operation
	Deployment   *Deployment
	LastError    *LastError // nil outside on-error
	RequestId    string     // a GUID
	Timestamp    time.Time  // request start (UTC)
	Tracer       func(source, message string)
	// Clock returns the current time; nil means time.Now. Used by
	// DateTime.UtcNow and context.Elapsed so tests can fix time.
	Clock func() time.Time
}

func (c *Context) now() time.Time {
	if c != nil && c.Clock != nil {
		return c.Clock().UTC()
	}
	return time.Now().UTC()
}

// Elapsed is the time since Timestamp (context.Elapsed).
func (c *Context) Elapsed() time.Duration { return c.now().Sub(c.Timestamp) }

// Variables holds context.Variables (set-variable values and policy outputs).
type Variables map[string]any

// Request is context.Request.
type Request struct {
	Method            string
	Url               *URL // mutable by rewrite-uri / set-query-parameter
	OriginalUrl       *URL
	Headers           http.Header // looked up case-insensitively
	IpAddress         string
	Body              *Body // nil when there is no body
	MatchedParameters map[string]string
	Certificate       *x509.Certificate // nil without client certificate
}

// Response is context.Response, and the value a send-request stores into a
// variable; `(IResponse)x` casts to it.
type Response struct {
	StatusCode   int
	StatusReason string
	Headers      http.Header
	Body         *Body
}

// Subscription is context.Subscription.
type Subscription struct {
	Id, Name, Key, PrimaryKey, SecondaryKey string
	CreatedDate                             time.Time
	StartDate, EndDate                      *time.Time
}

// Product is context.Product.
type Product struct {
	Id, Name             string
	SubscriptionRequired bool
	ApprovalRequired     bool
	State                string
}

// Api is context.Api.
type Api struct {
	Id, Name, Path, Version, Revision string
	IsCurrentRevision                 bool
	Protocols                         []string
	ServiceUrl                        *URL
	SubscriptionKeyHeaderName         string
	SubscriptionKeyQueryParamName     string
}

// Operation is context.Operation.
type Operation struct{ Id, Name, Method, UrlTemplate string }

// User is context.User.
type User struct {
	Id, Email, FirstName, LastName, Note string
	Groups                               []string // group ids (exposed with Id and Name)
	RegistrationDate                     time.Time
}

// Deployment is context.Deployment.
type Deployment struct {
	Region, ServiceName, ServiceId string
	Gateway                        *Gateway
	Certificates                   map[string]*x509.Certificate // by thumbprint
}

// Gateway is context.Deployment.Gateway.
type Gateway struct {
	Id           string
	IsSelfHosted bool
	InstanceId   string
}

// LastError is context.LastError, set in on-error.
type LastError struct {
	Source, Reason, Message, Scope, Section, Path, PolicyId string
}

// Authorization is what get-authorization-context stores in a variable
// ((Authorization)context.Variables["x"]).AccessToken.
type Authorization struct {
	AccessToken string
	Claims      map[string]any
}

// ---- URL ----

// URL is context.Request.Url / OriginalUrl (APIM's IUrl). Query keeps
// parameter order.
type URL struct {
	Scheme   string
	Host     string
	Port     int
	Path     string
	Query    *Query
	Fragment string
}

// ParseURL parses an absolute URL into a URL.
func ParseURL(s string) (*URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", s, err)
	}
	return FromURL(u), nil
}

// FromURL converts a net/url URL.
func FromURL(u *url.URL) *URL {
	r := &URL{Scheme: u.Scheme, Host: u.Hostname(), Path: u.Path, Fragment: u.Fragment, Query: ParseQuery(u.RawQuery)}
	if p := u.Port(); p != "" {
		r.Port, _ = strconv.Atoi(p)
	} else if u.Scheme == "https" {
		r.Port = 443
	} else if u.Scheme == "http" {
		r.Port = 80
	}
	if r.Path == "" {
		r.Path = "/"
	}
	return r
}

// Clone returns a deep copy.
func (u *URL) Clone() *URL {
	c := new(URL)
	u.CloneInto(c, new(Query))
	return c
}

// CloneInto makes dst, with q as its query, a deep copy of u, for a URL
// that lives inside a larger object.
func (u *URL) CloneInto(dst *URL, q *Query) {
	*dst = *u
	u.Query.cloneInto(q)
	dst.Query = q
}

// URL converts to a net/url URL (for forwarding).
func (u *URL) URL() *url.URL {
	host := u.Host
	if u.Port != 0 && !(u.Scheme == "https" && u.Port == 443) && !(u.Scheme == "http" && u.Port == 80) {
		host += ":" + strconv.Itoa(u.Port)
	}
	out := &url.URL{Scheme: u.Scheme, Host: host, Path: u.Path, Fragment: u.Fragment}
	if u.Query != nil {
		out.RawQuery = u.Query.Encode()
	}
	return out
}

// QueryString is "?a=1&b=2" or "" (APIM's IUrl.QueryString).
func (u *URL) QueryString() string {
	if u.Query == nil || u.Query.Len() == 0 {
		return ""
	}
	return "?" + u.Query.Encode()
}

// String renders the full URL (IUrl.ToString()), omitting the default port.
func (u *URL) String() string {
	var buf [160]byte
	return string(u.AppendTo(buf[:0]))
}

// AppendTo appends the URL as String renders it to b.
func (u *URL) AppendTo(b []byte) []byte {
	b = append(b, u.Scheme...)
	b = append(b, "://"...)
	b = append(b, u.Host...)
	if u.Port != 0 && !(u.Scheme == "https" && u.Port == 443) && !(u.Scheme == "http" && u.Port == 80) {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(u.Port), 10)
	}
	p := (&url.URL{Path: u.Path}).EscapedPath()
	if !strings.HasPrefix(p, "/") {
		b = append(b, '/')
	}
	b = append(b, p...)
	if u.Query != nil && u.Query.Len() > 0 {
		b = append(b, '?')
		b = u.Query.appendEncoded(b)
	}
	if u.Fragment != "" {
		b = append(b, '#')
		b = append(b, u.Fragment...)
	}
	return b
}

// Query is an ordered multi-map of query parameters (case-sensitive names).
type Query struct {
	names  []string
	values [][]string
}

// ParseQuery parses a raw query string keeping order.
func ParseQuery(raw string) *Query {
	q := &Query{}
	q.Parse(raw)
	return q
}

// Parse sets q to the parameters of a raw query string, keeping order.
func (q *Query) Parse(raw string) {
	*q = Query{}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		q.Add(k, v)
	}
}

func (q *Query) find(name string) int {
	if q == nil {
		return -1
	}
	for i, n := range q.names {
		if n == name {
			return i
		}
	}
	return -1
}

// Len is the number of distinct names.
func (q *Query) Len() int {
	if q == nil {
		return 0
	}
	return len(q.names)
}

// Names returns the parameter names in order.
func (q *Query) Names() []string {
	if q == nil {
		return nil
	}
	return q.names
}

// Values returns the values of name (nil when absent).
func (q *Query) Values(name string) []string {
	if i := q.find(name); i >= 0 {
		return q.values[i]
	}
	return nil
}

// Get returns the values of name joined with ",".
func (q *Query) Get(name string) (string, bool) {
	if i := q.find(name); i >= 0 {
		return strings.Join(q.values[i], ","), true
	}
	return "", false
}

// Set replaces the values of name.
func (q *Query) Set(name string, values ...string) {
	if i := q.find(name); i >= 0 {
		q.values[i] = values
		return
	}
	q.names = append(q.names, name)
	q.values = append(q.values, values)
}

// Add appends a value to name.
func (q *Query) Add(name, value string) {
	if i := q.find(name); i >= 0 {
		q.values[i] = append(q.values[i], value)
		return
	}
	q.names = append(q.names, name)
	q.values = append(q.values, []string{value})
}

// Del removes name.
func (q *Query) Del(name string) {
	if i := q.find(name); i >= 0 {
		q.names = append(q.names[:i], q.names[i+1:]...)
		q.values = append(q.values[:i], q.values[i+1:]...)
	}
}

// Clone returns a copy.
func (q *Query) Clone() *Query {
	c := new(Query)
	q.cloneInto(c)
	return c
}

func (q *Query) cloneInto(c *Query) {
	if q == nil || len(q.names) == 0 {
		*c = Query{}
		return
	}
	*c = Query{names: append([]string(nil), q.names...), values: make([][]string, len(q.values))}
	for i, v := range q.values {
		c.values[i] = append([]string(nil), v...)
	}
}

// Encode renders "a=1&b=2" in order.
func (q *Query) Encode() string {
	var buf [128]byte
	return string(q.appendEncoded(buf[:0]))
}

func (q *Query) appendEncoded(b []byte) []byte {
	start := len(b)
	for i, n := range q.Names() {
		for _, v := range q.values[i] {
			if len(b) > start {
				b = append(b, '&')
			}
			b = append(b, url.QueryEscape(n)...)
			b = append(b, '=')
			b = append(b, url.QueryEscape(v)...)
		}
	}
	return b
}

// ---- headers ----

// headerValues looks a header up case-insensitively.
func headerValues(h http.Header, canon, name string) []string {
	if h == nil {
		return nil
	}
	if v, ok := h[canon]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func canonicalHeader(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }

// ---- body ----

// Body is a message body (APIM's IMessageBody). It wraps a stream or bytes.
// Reading it through As<T>() without preserveContent consumes it: later
// reads (and forwarding) see an empty body, as in APIM.
type Body struct {
	src      io.ReadCloser
	buf      []byte
	buffered bool
	consumed bool
	err      error
	// limit bounds what Bytes buffers (0: no bound); request marks the
	// client's request body, whose read errors are the client's.
	limit   int64
	request bool
}

// NewRequestBody wraps the client's request body stream; buffering more
// than limit bytes of it (when limit > 0) fails with BodyTooLargeError.
// Its read errors are RequestBodyErrors.
func NewRequestBody(r io.ReadCloser, limit int64) *Body {
	return &Body{src: r, limit: limit, request: true}
}

// SetLimit bounds what Bytes buffers from now on (0: no bound).
func (b *Body) SetLimit(n int64) { b.limit = n }

// BodyTooLargeError is the error of buffering a request body beyond its
// limit.
type BodyTooLargeError struct{ Limit int64 }

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("the request body is larger than the %d bytes a policy may buffer", e.Limit)
}

// RequestBodyError is a failure to read the client's request body: the
// client's fault, not the policy's nor the backend's.
type RequestBodyError struct{ Err error }

func (e *RequestBodyError) Error() string { return "read request body: " + e.Err.Error() }
func (e *RequestBodyError) Unwrap() error { return e.Err }

// NewBody wraps a stream; it is read lazily.
func NewBody(r io.ReadCloser) *Body { return &Body{src: r} }

// InitStream makes a zero Body wrap a stream, as NewBody does, for a Body
// that lives inside a larger object.
func (b *Body) InitStream(r io.ReadCloser) { *b = Body{src: r} }

// NewBodyBytes wraps bytes.
func NewBodyBytes(b []byte) *Body { return &Body{buf: b, buffered: true} }

// Bytes reads and buffers the whole body (without consuming it).
func (b *Body) Bytes() ([]byte, error) {
	if b.consumed {
		return nil, nil
	}
	if !b.buffered {
		if b.err != nil {
			return nil, b.err
		}
		src := io.Reader(b.src)
		if b.limit > 0 {
			src = io.LimitReader(b.src, b.limit+1)
		}
		data, err := io.ReadAll(src)
		if err == nil && b.limit > 0 && int64(len(data)) > b.limit {
			data, err = nil, &BodyTooLargeError{Limit: b.limit}
		}
		cerr := b.src.Close()
		if err == nil {
			err = cerr
		}
		if err != nil {
			if b.request {
				b.err = &RequestBodyError{Err: err}
			} else {
				b.err = fmt.Errorf("read body: %w", err)
			}
			return nil, b.err
		}
		b.buf, b.buffered, b.src = data, true, nil
	}
	return b.buf, nil
}

// Reader returns the content for forwarding: the unread stream, the
// buffered bytes, or nothing when an expression consumed the body.
func (b *Body) Reader() io.Reader {
	if b.consumed {
		return bytes.NewReader(nil)
	}
	if !b.buffered && b.src != nil {
		return b.src
	}
	return bytes.NewReader(b.buf)
}

// Set replaces the content (set-body).
func (b *Body) Set(data []byte) {
	if b.src != nil && !b.buffered {
		_ = b.src.Close() // the replaced stream is discarded; a close error changes nothing
	}
	b.src, b.buf, b.buffered, b.consumed, b.err = nil, data, true, false, nil
}

// Consumed reports whether an expression read the body without preserveContent.
func (b *Body) Consumed() bool { return b.consumed }

// read returns the content for As<T>; preserve=false consumes it.
func (b *Body) read(preserve bool) ([]byte, error) {
	data, err := b.Bytes()
	if err != nil {
		return nil, &RuntimeError{Type: "IOException", Msg: err.Error(), Err: err}
	}
	if !preserve {
		b.consumed = true
	}
	return data, nil
}

func bodyString(data []byte) string {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if utf8.Valid(data) {
		return string(data)
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}

// ---- client certificate ----

func certThumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// dnKeys are the attribute names .NET writes in a distinguished name;
// others are written OID.n.n.n.
var dnKeys = map[string]string{
	"2.5.4.3": "CN", "2.5.4.11": "OU", "2.5.4.10": "O", "2.5.4.7": "L", "2.5.4.8": "S",
	"2.5.4.6": "C", "2.5.4.9": "STREET", "2.5.4.5": "SERIALNUMBER", "2.5.4.4": "SN",
	"2.5.4.42": "G", "2.5.4.43": "I", "2.5.4.12": "T", "2.5.4.17": "PostalCode",
	"1.2.840.113549.1.9.1": "E", "0.9.2342.19200300.100.1.25": "DC",
}

// DistinguishedName renders a certificate's raw subject or issuer as .NET's
// X509Certificate2.Subject does, so that policies comparing it with a
// string written for APIM match: most specific first, ", " between
// attributes, " + " inside a multi-valued one, .NET's names (S for the
// state, E for the e-mail address), and a value with a separator or quote
// in double quotes. (Go's pkix.Name.String writes "CN=a,O=b", ST and
// escapes with backslashes.)
func DistinguishedName(raw []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) > 0 {
		return ""
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		for j, atv := range seq[i] {
			switch {
			case j > 0:
				b.WriteString(" + ")
			case b.Len() > 0:
				b.WriteString(", ")
			}
			key, ok := dnKeys[atv.Type.String()]
			if !ok {
				key = "OID." + atv.Type.String()
			}
			b.WriteString(key)
			b.WriteByte('=')
			v := fmt.Sprint(atv.Value)
			if v == "" || strings.ContainsAny(v, ",+=\"<>#;\n") || v[0] == ' ' || v[len(v)-1] == ' ' {
				v = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
			}
			b.WriteString(v)
		}
	}
	return b.String()
}
