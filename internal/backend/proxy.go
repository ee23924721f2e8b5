package backend

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apimgw/apimgw/internal/httplex"
)

// Proxy is an HTTP forward proxy that requests go through (APIM's proxy
// policy). Plain-HTTP backends get absolute-form requests over pooled
// connections to the proxy; HTTPS backends (and HTTP/2) get a CONNECT
// tunnel per connection. The proxy's IP:port is then the destination:
// its pools and its port ledger count these connections.
type Proxy struct {
	// URL is the proxy, http://host:port.
	URL *url.URL
	// Username and Password, when set, are sent as Basic
	// Proxy-Authorization.
	Username, Password string
	// tunnelAlways makes even plain-HTTP requests use a CONNECT tunnel: an
	// upgrade (WebSocket) handshake, which forward proxies relay only
	// through a tunnel.
	tunnelAlways bool
}

// tunnelled returns the proxy as used for upgrade handshakes.
func (p *Proxy) tunnelled() *Proxy {
	t := *p
	t.tunnelAlways = true
	return &t
}

// wantsUpgrade reports whether req asks to switch protocols.
func wantsUpgrade(req *http.Request) bool {
	return req.Header.Get("Upgrade") != "" && httplex.HasToken(req.Header["Connection"], "upgrade")
}

// NewProxy checks raw (an http:// URL with a host) and returns the proxy.
func NewProxy(raw, username, password string) (*Proxy, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("proxy URL %q: want http://host:port", raw)
	}
	return &Proxy{URL: u, Username: username, Password: password}, nil
}

// key identifies the proxy and its credentials: connections made for one
// are never used for another.
func (p *Proxy) key() string {
	if p == nil {
		return ""
	}
	k := p.URL.Host + "\x00" + p.Username + "\x00" + p.Password
	if p.tunnelAlways {
		k += "\x00tunnel"
	}
	return k
}

func (p *Proxy) authorization() string {
	if p == nil || p.Username == "" && p.Password == "" {
		return ""
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(p.Username+":"+p.Password))
}

// hostPort is the proxy's host and port (80 when the URL has none).
func (p *Proxy) hostPort() (string, string) {
	port := p.URL.Port()
	if port == "" {
		port = "80"
	}
	return strings.ToLower(p.URL.Hostname()), port
}

type proxyKey struct{}

// WithProxy returns a context whose requests go through px.
func WithProxy(ctx context.Context, px *Proxy) context.Context {
	return context.WithValue(ctx, proxyKey{}, px)
}

// WithConnOptions returns ctx carrying the client certificate c and the
// proxy px, either of which may be nil; ctx itself when both are.
func WithConnOptions(ctx context.Context, c *ClientCert, px *Proxy) context.Context {
	if c != nil {
		ctx = WithClientCert(ctx, c)
	}
	if px != nil {
		ctx = WithProxy(ctx, px)
	}
	return ctx
}

// ProxyOf returns the proxy WithProxy put in ctx, or nil.
func ProxyOf(ctx context.Context) *Proxy {
	px, _ := ctx.Value(proxyKey{}).(*Proxy)
	return px
}

// tunnel asks the proxy on c for a tunnel to authority (CONNECT) and
// returns the connection once the proxy has opened it.
func (px *Proxy) tunnel(c net.Conn, authority string, deadline time.Time) (net.Conn, error) {
	_ = c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	var b strings.Builder
	b.WriteString("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n")
	if a := px.authorization(); a != "" {
		b.WriteString("Proxy-Authorization: " + a + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, fmt.Errorf("proxy %s: CONNECT %s: %w", px.URL.Host, authority, err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, fmt.Errorf("proxy %s: CONNECT %s: %w", px.URL.Host, authority, err)
	}
	// The body is not read: a proxy may frame its 200 as chunked and then
	// start the tunnel, and after an error the connection is closed.
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("proxy %s refused CONNECT %s: %s", px.URL.Host, authority, resp.Status)
	}
	if br.Buffered() > 0 {
		return nil, fmt.Errorf("proxy %s: CONNECT %s: bytes after the response", px.URL.Host, authority)
	}
	return c, nil
}
