package expr

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"github.com/dlclark/regexp2/v2"
	"hash"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"
)

// Jwt is the result of AsJwt(): a parsed (not validated) JSON Web Token.
type Jwt struct {
	Header  *JObject
	Payload *JObject
	claims  *Claims
}

// Claims is Jwt.Claims: claim name → values.
type Claims struct {
	names  []string
	values [][]string
}

func (c *Claims) get(name string) []string {
	for i, n := range c.names {
		if n == name {
			return c.values[i]
		}
	}
	return nil
}

// parseJwt decodes a compact JWT (optionally prefixed by "Bearer "); it
// returns nil when the text is not a JWT, as APIM's AsJwt() does.
func parseJwt(s string) *Jwt {
	s = strings.TrimSpace(s)
	if len(s) > 7 && strings.EqualFold(s[:7], "bearer ") {
		s = strings.TrimSpace(s[7:])
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil
	}
	dec := func(p string) *JObject {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p, "="))
		if err != nil {
			return nil
		}
		v, err := ParseJSON(string(b))
		if err != nil {
			return nil
		}
		o, _ := v.(*JObject)
		return o
	}
	h, pl := dec(parts[0]), dec(parts[1])
	if h == nil || pl == nil {
		return nil
	}
	j := &Jwt{Header: h, Payload: pl, claims: &Claims{}}
	for _, p := range pl.props {
		var vals []string
		if a, ok := p.Value.(*JArray); ok {
			for _, it := range a.Items {
				vals = append(vals, ToString(it))
			}
		} else {
			vals = []string{ToString(p.Value)}
		}
		j.claims.names = append(j.claims.names, p.Name)
		j.claims.values = append(j.claims.values, vals)
	}
	return j
}

func (j *Jwt) claim(name string) string {
	if v := j.claims.get(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (j *Jwt) timeClaim(name string) any {
	v, ok := fromJValue(j.Payload.Get(name)).(int64)
	if !ok {
		if f, okf := fromJValue(j.Payload.Get(name)).(float64); okf {
			v, ok = int64(f), true
		}
	}
	if !ok {
		return nil
	}
	return time.Unix(v, 0).UTC()
}

func jwtProp(name string) (getter, sType, bool) {
	str := func(claim string) getter {
		return func(v any) (any, error) { return v.(*Jwt).claim(claim), nil }
	}
	switch name {
	case "Claims":
		return func(v any) (any, error) { return v.(*Jwt).claims, nil }, stClaims, true
	case "Subject":
		return str("sub"), stString, true
	case "Issuer":
		return str("iss"), stString, true
	case "Id":
		return str("jti"), stString, true
	case "Audiences":
		return func(v any) (any, error) { return strList(v.(*Jwt).claims.get("aud")), nil }, stAny, true
	case "ExpirationTime":
		return func(v any) (any, error) { return v.(*Jwt).timeClaim("exp"), nil }, stAny, true
	case "NotBefore":
		return func(v any) (any, error) { return v.(*Jwt).timeClaim("nbf"), nil }, stAny, true
	case "IssuedAt":
		return func(v any) (any, error) { return v.(*Jwt).timeClaim("iat"), nil }, stAny, true
	case "Algorithm":
		return func(v any) (any, error) { return ToString(v.(*Jwt).Header.Get("alg")), nil }, stString, true
	case "Type":
		return func(v any) (any, error) { return ToString(v.(*Jwt).Header.Get("typ")), nil }, stString, true
	}
	return nil, 0, false
}

// BasicAuth is the result of AsBasic().
type BasicAuth struct{ UserId, Password string }

func parseBasic(s string) *BasicAuth {
	s = strings.TrimSpace(s)
	if len(s) > 6 && strings.EqualFold(s[:6], "basic ") {
		s = strings.TrimSpace(s[6:])
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	u, p, ok := strings.Cut(string(b), ":")
	if !ok {
		return nil
	}
	return &BasicAuth{UserId: u, Password: p}
}

// Match is a System.Text.RegularExpressions.Match.
type Match struct {
	Success bool
	Value   string
	Index   int
	groups  *groupCollection
	re      *netRegex
	input   string
	next    *regexp2.Match
}

// Group is a regex group.
type Group struct {
	Success bool
	Value   string
	Index   int
	Name    string
}

type groupCollection struct {
	groups []*Group
}

// Random is System.Random.
type Random struct{ r *rand.Rand }

func newRandom(seed *int64) *Random {
	if seed != nil {
		return &Random{r: rand.New(rand.NewPCG(uint64(*seed), 0x9e3779b97f4a7c15))}
	}
	return &Random{r: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// Hasher is a HashAlgorithm / HMAC instance.
type Hasher struct {
	kind string
	h    func() hash.Hash
	key  []byte
}

func newHasher(kind string, key []byte) (*Hasher, bool) {
	var h func() hash.Hash
	switch kind {
	case "SHA256", "HMACSHA256":
		h = sha256.New
	case "SHA1", "HMACSHA1":
		h = sha1.New
	case "SHA512", "HMACSHA512":
		h = sha512.New
	case "SHA384", "HMACSHA384":
		h = sha512.New384
	case "MD5", "HMACMD5":
		h = md5.New
	default:
		return nil, false
	}
	return &Hasher{kind: kind, h: h, key: key}, true
}

func (h *Hasher) compute(data []byte) []byte {
	var hh hash.Hash
	if strings.HasPrefix(h.kind, "HMAC") {
		hh = hmac.New(h.h, h.key)
	} else {
		hh = h.h()
	}
	hh.Write(data)
	return hh.Sum(nil)
}

// Uri is System.Uri.
type Uri struct {
	u        *url.URL
	original string
	relative bool
}

func newUri(s string) (*Uri, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, &RuntimeError{Type: "UriFormatException", Msg: "Invalid URI: The format of the URI could not be determined."}
	}
	normalizeURL(u)
	return &Uri{u: u, original: s}, nil
}

// normalizeURL applies System.Uri's canonical form: lower-case scheme and
// host, no default port, "/" for an empty path, dot segments removed,
// percent-encoded unreserved characters decoded, spaces encoded.
func normalizeURL(u *url.URL) {
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := u.Hostname(), u.Port()
	host = strings.ToLower(host)
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") || port == "" {
		u.Host = host
	} else {
		u.Host = host + ":" + port
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	if strings.Contains(p, "/.") {
		trailing := strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")
		var out []string
		for _, seg := range strings.Split(p, "/")[1:] {
			switch seg {
			case ".":
			case "..":
				if len(out) > 0 {
					out = out[:len(out)-1]
				}
			default:
				out = append(out, seg)
			}
		}
		p = "/" + strings.Join(out, "/")
		if trailing && !strings.HasSuffix(p, "/") {
			p += "/"
		}
	}
	u.Path = p
	u.RawPath = ""
	if u.RawQuery != "" {
		u.RawQuery = strings.ReplaceAll(u.RawQuery, " ", "%20")
	}
}

// absoluteURI is Uri.AbsoluteUri.
func (u *Uri) absoluteURI() string {
	var sb strings.Builder
	sb.WriteString(u.u.Scheme)
	sb.WriteString("://")
	if u.u.User != nil {
		sb.WriteString(u.u.User.String())
		sb.WriteByte('@')
	}
	sb.WriteString(u.u.Host)
	sb.WriteString(u.u.EscapedPath())
	if u.u.RawQuery != "" || u.u.ForceQuery {
		sb.WriteByte('?')
		sb.WriteString(u.u.RawQuery)
	}
	if u.u.Fragment != "" {
		sb.WriteByte('#')
		sb.WriteString(u.u.EscapedFragment())
	}
	return sb.String()
}

// equalKey is what Uri.Equals compares: the canonical URI without its user
// information and fragment (a relative Uri: its text).
func (u *Uri) equalKey() string {
	if u.relative {
		return u.original
	}
	c := *u.u
	c.User, c.Fragment, c.RawFragment = nil, "", ""
	return (&Uri{u: &c}).absoluteURI()
}

func (u *Uri) port() int {
	if p := u.u.Port(); p != "" {
		n := 0
		for _, c := range p {
			n = n*10 + int(c-'0')
		}
		return n
	}
	switch u.u.Scheme {
	case "https":
		return 443
	case "http":
		return 80
	}
	return -1
}

func newUriRef(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, &RuntimeError{Type: "UriFormatException", Msg: "Invalid URI: The format of the URI could not be determined."}
	}
	return u, nil
}

// StringBuilder is System.Text.StringBuilder.
type StringBuilder struct{ sb strings.Builder }

// Regex is a System.Text.RegularExpressions.Regex instance.
type Regex struct{ re *netRegex }

func regexInstance(name string, r *Regex, a []any) (any, error, bool) {
	if len(a) == 0 {
		return nil, errArg("missing argument"), true
	}
	s, ok := argStr(a[0])
	if !ok {
		return nil, errArgNull("input"), true
	}
	switch name {
	case "IsMatch", "Match", "Matches", "Split":
		v, err := r.re.call(name, s)
		return v, err, true
	case "Replace":
		if len(a) < 2 {
			return nil, errArg("Replace takes an input and a replacement"), true
		}
		if f, ok := a[1].(*Func); ok {
			v, err := r.re.replaceFunc(s, f)
			return v, err, true
		}
		rep, ok := argStr(a[1])
		if !ok {
			return nil, errArgNull("replacement"), true
		}
		v, err := r.re.replace(s, rep)
		return v, err, true
	}
	return nil, nil, false
}

// symmetricCrypt implements APIM's byte[].Encrypt/Decrypt(alg, key, iv)
// helpers for "Aes"/"Rijndael" (CBC, PKCS7 padding, the .NET defaults).
func symmetricCrypt(encrypt bool, data []byte, a []any) (any, error) {
	if len(a) != 3 {
		return nil, errArg("Encrypt/Decrypt take an algorithm name, a key and an IV")
	}
	alg, _ := argStr(a[0])
	key, ok1 := a[1].([]byte)
	iv, ok2 := a[2].([]byte)
	if !ok1 || !ok2 {
		return nil, errArg("key and IV must be byte arrays")
	}
	switch strings.ToLower(alg) {
	case "aes", "rijndael", "system.security.cryptography.aes", "aesmanaged", "aescryptoserviceprovider":
	default:
		return nil, &RuntimeError{Type: "NotSupportedException", Msg: "unsupported symmetric algorithm '" + alg + "' (supported: Aes)"}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, &RuntimeError{Type: "CryptographicException", Msg: "Specified key is not a valid size for this algorithm."}
	}
	if len(iv) != aes.BlockSize {
		return nil, &RuntimeError{Type: "CryptographicException", Msg: "Specified initialization vector (IV) does not match the block size for this algorithm."}
	}
	if encrypt {
		pad := aes.BlockSize - len(data)%aes.BlockSize
		buf := make([]byte, len(data)+pad)
		copy(buf, data)
		for i := len(data); i < len(buf); i++ {
			buf[i] = byte(pad)
		}
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
		return buf, nil
	}
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, &RuntimeError{Type: "CryptographicException", Msg: "The input data is not a complete block."}
	}
	buf := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, data)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(buf) {
		return nil, &RuntimeError{Type: "CryptographicException", Msg: "Padding is invalid and cannot be removed."}
	}
	for _, b := range buf[len(buf)-pad:] {
		if int(b) != pad {
			return nil, &RuntimeError{Type: "CryptographicException", Msg: "Padding is invalid and cannot be removed."}
		}
	}
	return buf[:len(buf)-pad], nil
}

// ParseJwt decodes a compact JWT (optionally "Bearer "-prefixed) without
// validating it, as string.AsJwt() does; nil when s is not a JWT. Policies
// such as validate-jwt store the result in a variable for expressions.
func ParseJwt(s string) *Jwt { return parseJwt(s) }

// Claim returns the values of a claim (nil when absent).
func (j *Jwt) Claim(name string) []string { return j.claims.get(name) }
