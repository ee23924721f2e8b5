package expr

import (
	"crypto/x509"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Member tables of the context object model. They are consulted only at
// compile time; the closures they return do the work at run time.

type getter func(any) (any, error)

func sortedKeys(m Variables) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedHeaderKeys(h http.Header) []string {
	ks := make([]string, 0, len(h))
	for k := range h {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedStringKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func strList(ss []string) *List {
	return stringsList(ss)
}

func optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// modelProp resolves a property of a model type.
func modelProp(st sType, name string) (getter, sType, bool) {
	switch st {
	case stContext:
		switch name {
		case "Request":
			return func(v any) (any, error) { return v.(*Context).Request, nil }, stRequest, true
		case "Response":
			return func(v any) (any, error) { return v.(*Context).Response, nil }, stResponse, true
		case "Variables":
			return func(v any) (any, error) {
				c := v.(*Context)
				if c.Variables == nil {
					return Variables{}, nil
				}
				return c.Variables, nil
			}, stVariables, true
		case "Subscription":
			return func(v any) (any, error) { return v.(*Context).Subscription, nil }, stSubscription, true
		case "User":
			return func(v any) (any, error) { return v.(*Context).User, nil }, stUser, true
		case "Product":
			return func(v any) (any, error) { return v.(*Context).Product, nil }, stProduct, true
		case "Api":
			return func(v any) (any, error) { return v.(*Context).Api, nil }, stApi, true
		case "Operation":
			return func(v any) (any, error) { return v.(*Context).Operation, nil }, stOperation, true
		case "Deployment":
			return func(v any) (any, error) { return v.(*Context).Deployment, nil }, stDeployment, true
		case "LastError":
			return func(v any) (any, error) { return v.(*Context).LastError, nil }, stLastError, true
		case "RequestId":
			return func(v any) (any, error) {
				if g, ok := parseGuid(v.(*Context).RequestId); ok {
					return g, nil
				}
				return v.(*Context).RequestId, nil
			}, stAny, true
		case "Timestamp":
			return func(v any) (any, error) { return v.(*Context).Timestamp.UTC(), nil }, stDateTime, true
		case "Elapsed":
			return func(v any) (any, error) { return v.(*Context).Elapsed(), nil }, stTimeSpan, true
		}
	case stRequest:
		switch name {
		case "Method":
			return func(v any) (any, error) { return v.(*Request).Method, nil }, stString, true
		case "Url":
			return func(v any) (any, error) { return v.(*Request).Url, nil }, stURL, true
		case "OriginalUrl":
			return func(v any) (any, error) { return v.(*Request).OriginalUrl, nil }, stURL, true
		case "Headers":
			return func(v any) (any, error) {
				h := v.(*Request).Headers
				if h == nil {
					return http.Header{}, nil
				}
				return h, nil
			}, stHeaders, true
		case "IpAddress":
			return func(v any) (any, error) { return v.(*Request).IpAddress, nil }, stString, true
		case "Body":
			return func(v any) (any, error) { return v.(*Request).Body, nil }, stBody, true
		case "MatchedParameters":
			return func(v any) (any, error) {
				m := v.(*Request).MatchedParameters
				if m == nil {
					return map[string]string{}, nil
				}
				return m, nil
			}, stParams, true
		case "Certificate":
			return func(v any) (any, error) {
				c := v.(*Request).Certificate
				if c == nil {
					return nil, nil
				}
				return c, nil
			}, stCert, true
		}
	case stResponse:
		switch name {
		case "StatusCode":
			return func(v any) (any, error) { return v.(*Response).StatusCode, nil }, stInt, true
		case "StatusReason":
			return func(v any) (any, error) { return v.(*Response).StatusReason, nil }, stString, true
		case "Headers":
			return func(v any) (any, error) {
				h := v.(*Response).Headers
				if h == nil {
					return http.Header{}, nil
				}
				return h, nil
			}, stHeaders, true
		case "Body":
			return func(v any) (any, error) { return v.(*Response).Body, nil }, stBody, true
		}
	case stURL:
		switch name {
		case "Scheme":
			return func(v any) (any, error) { return v.(*URL).Scheme, nil }, stString, true
		case "Host":
			return func(v any) (any, error) { return v.(*URL).Host, nil }, stString, true
		case "Port":
			return func(v any) (any, error) { return v.(*URL).Port, nil }, stInt, true
		case "Path":
			return func(v any) (any, error) { return v.(*URL).Path, nil }, stString, true
		case "Query":
			return func(v any) (any, error) {
				u := v.(*URL)
				if u.Query == nil {
					u.Query = &Query{}
				}
				return u.Query, nil
			}, stQuery, true
		case "QueryString":
			return func(v any) (any, error) { return v.(*URL).QueryString(), nil }, stString, true
		}
	case stQuery, stHeaders, stParams, stVariables, stClaims:
		switch name {
		case "Count":
			return func(v any) (any, error) { return dictCount(v), nil }, stInt, true
		case "Keys":
			return func(v any) (any, error) { return dictKeys(v), nil }, stAny, true
		case "Values":
			return func(v any) (any, error) { return dictValues(v), nil }, stAny, true
		}
	case stSubscription:
		switch name {
		case "Id":
			return func(v any) (any, error) { return v.(*Subscription).Id, nil }, stString, true
		case "Name":
			return func(v any) (any, error) { return v.(*Subscription).Name, nil }, stString, true
		case "Key":
			return func(v any) (any, error) { return v.(*Subscription).Key, nil }, stString, true
		case "PrimaryKey":
			return func(v any) (any, error) { return v.(*Subscription).PrimaryKey, nil }, stString, true
		case "SecondaryKey":
			return func(v any) (any, error) { return v.(*Subscription).SecondaryKey, nil }, stString, true
		case "CreatedDate":
			return func(v any) (any, error) { return v.(*Subscription).CreatedDate, nil }, stAny, true
		case "StartDate":
			return func(v any) (any, error) { return optTime(v.(*Subscription).StartDate), nil }, stAny, true
		case "EndDate":
			return func(v any) (any, error) { return optTime(v.(*Subscription).EndDate), nil }, stAny, true
		}
	case stUser:
		switch name {
		case "Id":
			return func(v any) (any, error) { return v.(*User).Id, nil }, stString, true
		case "Email":
			return func(v any) (any, error) { return v.(*User).Email, nil }, stString, true
		case "FirstName":
			return func(v any) (any, error) { return v.(*User).FirstName, nil }, stString, true
		case "LastName":
			return func(v any) (any, error) { return v.(*User).LastName, nil }, stString, true
		case "Note":
			return func(v any) (any, error) { return v.(*User).Note, nil }, stString, true
		case "RegistrationDate":
			return func(v any) (any, error) { return v.(*User).RegistrationDate, nil }, stAny, true
		case "Groups":
			return func(v any) (any, error) {
				gs := v.(*User).Groups
				l := &List{Elem: "Object"}
				for _, g := range gs {
					l.Items = append(l.Items, &Anon{names: []string{"Id", "Name"}, vals: []any{g, g}})
				}
				return l, nil
			}, stAny, true
		}
	case stProduct:
		switch name {
		case "Id":
			return func(v any) (any, error) { return v.(*Product).Id, nil }, stString, true
		case "Name":
			return func(v any) (any, error) { return v.(*Product).Name, nil }, stString, true
		case "SubscriptionRequired":
			return func(v any) (any, error) { return v.(*Product).SubscriptionRequired, nil }, stBool, true
		case "ApprovalRequired":
			return func(v any) (any, error) { return v.(*Product).ApprovalRequired, nil }, stBool, true
		case "State":
			return func(v any) (any, error) { return v.(*Product).State, nil }, stString, true
		}
	case stApi:
		switch name {
		case "Id":
			return func(v any) (any, error) { return v.(*Api).Id, nil }, stString, true
		case "Name":
			return func(v any) (any, error) { return v.(*Api).Name, nil }, stString, true
		case "Path":
			return func(v any) (any, error) { return v.(*Api).Path, nil }, stString, true
		case "Version":
			return func(v any) (any, error) { return v.(*Api).Version, nil }, stString, true
		case "Revision":
			return func(v any) (any, error) { return v.(*Api).Revision, nil }, stString, true
		case "IsCurrentRevision":
			return func(v any) (any, error) { return v.(*Api).IsCurrentRevision, nil }, stBool, true
		case "Protocols":
			return func(v any) (any, error) { return strList(v.(*Api).Protocols), nil }, stAny, true
		case "ServiceUrl":
			return func(v any) (any, error) { return v.(*Api).ServiceUrl, nil }, stURL, true
		case "SubscriptionKeyParameterNames":
			return func(v any) (any, error) {
				a := v.(*Api)
				return &Anon{names: []string{"Header", "Query"}, vals: []any{a.SubscriptionKeyHeaderName, a.SubscriptionKeyQueryParamName}}, nil
			}, stAny, true
		}
	case stOperation:
		switch name {
		case "Id":
			return func(v any) (any, error) { return v.(*Operation).Id, nil }, stString, true
		case "Name":
			return func(v any) (any, error) { return v.(*Operation).Name, nil }, stString, true
		case "Method":
			return func(v any) (any, error) { return v.(*Operation).Method, nil }, stString, true
		case "UrlTemplate":
			return func(v any) (any, error) { return v.(*Operation).UrlTemplate, nil }, stString, true
		}
	case stDeployment:
		switch name {
		case "Region":
			return func(v any) (any, error) { return v.(*Deployment).Region, nil }, stString, true
		case "ServiceName":
			return func(v any) (any, error) { return v.(*Deployment).ServiceName, nil }, stString, true
		case "ServiceId":
			return func(v any) (any, error) { return v.(*Deployment).ServiceId, nil }, stString, true
		case "Gateway":
			return func(v any) (any, error) { return v.(*Deployment).Gateway, nil }, stGateway, true
		case "Certificates":
			return func(v any) (any, error) {
				d := newDict(true)
				for k, c := range v.(*Deployment).Certificates {
					_ = d.set(k, c, false)
				}
				return d, nil
			}, stAny, true
		}
	case stGateway:
		switch name {
		case "Id":
			return func(v any) (any, error) { return v.(*Gateway).Id, nil }, stString, true
		case "IsSelfHosted":
			return func(v any) (any, error) { return v.(*Gateway).IsSelfHosted, nil }, stBool, true
		case "InstanceId":
			return func(v any) (any, error) { return v.(*Gateway).InstanceId, nil }, stString, true
		}
	case stLastError:
		f := func(pick func(*LastError) string) getter {
			return func(v any) (any, error) { return pick(v.(*LastError)), nil }
		}
		switch name {
		case "Source":
			return f(func(l *LastError) string { return l.Source }), stString, true
		case "Reason":
			return f(func(l *LastError) string { return l.Reason }), stString, true
		case "Message":
			return f(func(l *LastError) string { return l.Message }), stString, true
		case "Scope":
			return f(func(l *LastError) string { return l.Scope }), stString, true
		case "Section":
			return f(func(l *LastError) string { return l.Section }), stString, true
		case "Path":
			return f(func(l *LastError) string { return l.Path }), stString, true
		case "PolicyId":
			return f(func(l *LastError) string { return l.PolicyId }), stString, true
		}
	case stCert:
		switch name {
		case "Thumbprint":
			return func(v any) (any, error) { return certThumbprint(v.(*x509.Certificate)), nil }, stString, true
		case "Subject", "SubjectName":
			return func(v any) (any, error) { return DistinguishedName(v.(*x509.Certificate).RawSubject), nil }, stString, true
		case "Issuer", "IssuerName":
			return func(v any) (any, error) { return DistinguishedName(v.(*x509.Certificate).RawIssuer), nil }, stString, true
		case "NotAfter":
			return func(v any) (any, error) { return v.(*x509.Certificate).NotAfter.UTC(), nil }, stAny, true
		case "NotBefore":
			return func(v any) (any, error) { return v.(*x509.Certificate).NotBefore.UTC(), nil }, stAny, true
		case "SerialNumber":
			return func(v any) (any, error) {
				return strings.ToUpper(v.(*x509.Certificate).SerialNumber.Text(16)), nil
			}, stString, true
		}
	case stJwt:
		return jwtProp(name)
	case stAuthorization:
		switch name {
		case "AccessToken":
			return func(v any) (any, error) { return v.(*Authorization).AccessToken, nil }, stString, true
		case "Claims":
			return func(v any) (any, error) {
				d := newDict(false)
				for _, k := range sortedAnyKeys(v.(*Authorization).Claims) {
					_ = d.set(k, v.(*Authorization).Claims[k], false)
				}
				return d, nil
			}, stAny, true
		}
	}
	return nil, 0, false
}

func sortedAnyKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// modelKind returns the static type of a runtime model value.
func modelKind(v any) sType {
	switch v.(type) {
	case *Context:
		return stContext
	case *Request:
		return stRequest
	case *Response:
		return stResponse
	case *URL:
		return stURL
	case *Query:
		return stQuery
	case http.Header:
		return stHeaders
	case *Body:
		return stBody
	case Variables:
		return stVariables
	case *Subscription:
		return stSubscription
	case *User:
		return stUser
	case *Product:
		return stProduct
	case *Api:
		return stApi
	case *Operation:
		return stOperation
	case *Deployment:
		return stDeployment
	case *Gateway:
		return stGateway
	case *LastError:
		return stLastError
	case map[string]string:
		return stParams
	case *x509.Certificate:
		return stCert
	case *Jwt:
		return stJwt
	case *Claims:
		return stClaims
	case *Authorization:
		return stAuthorization
	}
	return stAny
}

// ---- dictionary-like model values (headers, query, matched parameters, variables, claims) ----

func dictCount(v any) int {
	switch x := v.(type) {
	case http.Header:
		return len(x)
	case *Query:
		return x.Len()
	case map[string]string:
		return len(x)
	case Variables:
		return len(x)
	case *Claims:
		return len(x.names)
	}
	return 0
}

func dictKeys(v any) *List {
	switch x := v.(type) {
	case http.Header:
		return strList(sortedHeaderKeys(x))
	case *Query:
		return strList(x.Names())
	case map[string]string:
		return strList(sortedStringKeys(x))
	case Variables:
		return strList(sortedKeys(x))
	case *Claims:
		return strList(x.names)
	}
	return &List{}
}

func dictValues(v any) *List {
	items, _ := iterate(v)
	out := &List{}
	for _, it := range items {
		out.Items = append(out.Items, it.(*KeyValue).Value)
	}
	return out
}

// dictLookup returns the entry of a model dictionary; string-array valued
// maps (headers, query, claims) return []string.
func dictLookup(v any, key string, canon string) (any, bool) {
	switch x := v.(type) {
	case http.Header:
		if canon == "" {
			canon = canonicalHeader(key)
		}
		vals := headerValues(x, canon, key)
		if vals == nil {
			return nil, false
		}
		return vals, true
	case *Query:
		vals := x.Values(key)
		if vals == nil {
			return nil, false
		}
		return vals, true
	case map[string]string:
		if s, ok := x[key]; ok {
			return s, true
		}
		for k, s := range x {
			if strings.EqualFold(k, key) {
				return s, true
			}
		}
		return nil, false
	case Variables:
		val, ok := x[key]
		return val, ok
	case *Claims:
		vals := x.get(key)
		if vals == nil {
			return nil, false
		}
		return vals, true
	}
	return nil, false
}

// asDictValue converts a lookup result to what the indexer returns.
func asDictValue(v any) any {
	if ss, ok := v.([]string); ok {
		return stringsList(ss)
	}
	return v
}

// joinedValue is GetValueOrDefault's result: string arrays joined with ",".
func joinedValue(v any) any {
	if ss, ok := v.([]string); ok {
		if len(ss) == 1 {
			return ss[0]
		}
		return strings.Join(ss, ",")
	}
	return v
}

// modelStrProp returns the getter of a string property of a model type
// that reads a field as is, for evaluation without boxing (cx.str); nil for
// any other property. Each must give what modelProp's getter gives.
func modelStrProp(st sType, name string) func(any) string {
	switch st {
	case stRequest:
		switch name {
		case "Method":
			return func(v any) string { return v.(*Request).Method }
		case "IpAddress":
			return func(v any) string { return v.(*Request).IpAddress }
		}
	case stURL:
		switch name {
		case "Scheme":
			return func(v any) string { return v.(*URL).Scheme }
		case "Host":
			return func(v any) string { return v.(*URL).Host }
		case "Path":
			return func(v any) string { return v.(*URL).Path }
		}
	case stSubscription:
		switch name {
		case "Id":
			return func(v any) string { return v.(*Subscription).Id }
		case "Name":
			return func(v any) string { return v.(*Subscription).Name }
		case "Key":
			return func(v any) string { return v.(*Subscription).Key }
		case "PrimaryKey":
			return func(v any) string { return v.(*Subscription).PrimaryKey }
		case "SecondaryKey":
			return func(v any) string { return v.(*Subscription).SecondaryKey }
		}
	case stUser:
		switch name {
		case "Id":
			return func(v any) string { return v.(*User).Id }
		case "Email":
			return func(v any) string { return v.(*User).Email }
		}
	case stProduct:
		switch name {
		case "Id":
			return func(v any) string { return v.(*Product).Id }
		case "Name":
			return func(v any) string { return v.(*Product).Name }
		}
	case stApi:
		switch name {
		case "Id":
			return func(v any) string { return v.(*Api).Id }
		case "Name":
			return func(v any) string { return v.(*Api).Name }
		case "Path":
			return func(v any) string { return v.(*Api).Path }
		}
	case stOperation:
		switch name {
		case "Id":
			return func(v any) string { return v.(*Operation).Id }
		case "Name":
			return func(v any) string { return v.(*Operation).Name }
		case "Method":
			return func(v any) string { return v.(*Operation).Method }
		case "UrlTemplate":
			return func(v any) string { return v.(*Operation).UrlTemplate }
		}
	}
	return nil
}
