package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits bound what one client can make the gateway hold or wait for, on
// the data-plane listener (cleartext and TLS alike). A key left out, or 0,
// takes its default; the defaults are no larger than APIM's own limits.
type Limits struct {
	// URL bounds the request target (path and query): longer is answered
	// 414 URI Too Long.
	URL ByteSize `yaml:"url"`
	// HeaderLine bounds one request header line (name, colon and value):
	// longer is answered 431 Request Header Fields Too Large.
	HeaderLine ByteSize `yaml:"headerLine"`
	// Headers bounds the number of request header lines: more is answered
	// 431.
	Headers int `yaml:"headers"`
	// Head bounds the whole request head (request line and headers): larger
	// is answered 431.
	Head ByteSize `yaml:"head"`
	// HeaderTimeout bounds the time from a request's first byte to the end
	// of its head; a client slower than that is disconnected (slowloris).
	HeaderTimeout Duration `yaml:"headerTimeout"`
	// BodyGrace and BodyMinRate bound how slowly a client may send a
	// request body, as Apache's mod_reqtimeout (body=20,MinRate=500): the
	// time the server has spent waiting for body bytes may reach BodyGrace
	// plus one second for every BodyMinRate bytes received; beyond it the
	// request is answered 408 Request Timeout and the connection closed.
	// Time the handler spends not reading (a slow backend) does not count.
	// BodyMinRate -1 turns the check off.
	BodyGrace   Duration `yaml:"bodyGrace"`
	BodyMinRate ByteSize `yaml:"bodyMinRate"`
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection (and for a new connection's first byte).
	IdleTimeout Duration `yaml:"idleTimeout"`
	// MaxConnections caps the client connections open at once. At the cap
	// the server closes its longest-idle keep-alive connection to make
	// room, and when none is idle it stops accepting until one closes: new
	// connections wait in the listen backlog instead of being refused.
	MaxConnections int `yaml:"maxConnections"`
	// BufferedBody bounds the bytes of a request or response body that a
	// policy may buffer (set-body, a body read by an expression, a cached
	// response); a larger request body is answered 413. Streamed bodies are
	// not bounded.
	BufferedBody ByteSize `yaml:"bufferedBody"`
	// RequestBody bounds every request body, streamed ones too (0, the
	// default: unbounded); beyond it the request gets 413.
	RequestBody ByteSize `yaml:"requestBody"`
	// UnderscoresInHeaders keeps request header fields whose names contain
	// "_". By default they are dropped, as nginx does
	// (underscores_in_headers off): a backend that maps "_" to "-" (CGI,
	// some frameworks) would otherwise take X_Forwarded_For for
	// X-Forwarded-For.
	UnderscoresInHeaders bool `yaml:"underscoresInHeaders"`
	Pos                  Pos
}

// Defaults of the limits section.
const (
	DefaultLimitURL            = 16 << 10 // APIM: 16,384 bytes
	DefaultLimitHeaderLine     = 32 << 10
	DefaultLimitHeaders        = 100
	DefaultLimitHead           = 64 << 10
	DefaultLimitHeaderTimeout  = 30 * time.Second
	DefaultLimitBodyGrace      = 20 * time.Second
	DefaultLimitBodyMinRate    = 500 // bytes per second
	DefaultLimitIdleTimeout    = 4 * time.Minute
	DefaultLimitMaxConnections = 10000
	DefaultLimitBufferedBody   = 100 << 20
)

// ByteSize is a number of bytes, written as an integer or with a unit:
// "16KiB", "1MiB", "2GiB" (also KB, MB, GB for the same powers of 1024, as
// nginx's k and m).
type ByteSize int64

// N returns the size as an int64.
func (b ByteSize) N() int64 { return int64(b) }

// UnmarshalText parses a size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > (1<<62)/mult || n < -(1<<62)/mult {
		return fmt.Errorf("invalid size %q (want bytes, or a number with KiB, MiB or GiB)", s)
	}
	*b = ByteSize(n * mult)
	return nil
}

// limits applies the defaults of the limits section and checks it.
func (v *validator) limits() {
	l := &v.cfg.Limits
	at := l.Pos
	if at.Line == 0 {
		at = v.at("limits")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"url", l.URL.N()}, {"headerLine", l.HeaderLine.N()}, {"headers", int64(l.Headers)}, {"head", l.Head.N()},
		{"headerTimeout", int64(l.HeaderTimeout)}, {"bodyGrace", int64(l.BodyGrace)}, {"idleTimeout", int64(l.IdleTimeout)},
		{"maxConnections", int64(l.MaxConnections)}, {"bufferedBody", l.BufferedBody.N()},
		{"requestBody", l.RequestBody.N()}} {
		if f.v < 0 {
			v.errorf(at, "limits.%s must not be negative", f.name)
		}
	}
	if l.BodyMinRate < -1 {
		v.errorf(at, "limits.bodyMinRate must be a rate in bytes per second, or -1 for none")
	}
	setDefault(&l.URL, DefaultLimitURL)
	setDefault(&l.HeaderLine, DefaultLimitHeaderLine)
	setDefault(&l.Headers, DefaultLimitHeaders)
	setDefault(&l.Head, DefaultLimitHead)
	setDefault(&l.HeaderTimeout, Duration(DefaultLimitHeaderTimeout))
	setDefault(&l.BodyGrace, Duration(DefaultLimitBodyGrace))
	setDefault(&l.BodyMinRate, DefaultLimitBodyMinRate)
	setDefault(&l.IdleTimeout, Duration(DefaultLimitIdleTimeout))
	setDefault(&l.MaxConnections, DefaultLimitMaxConnections)
	setDefault(&l.BufferedBody, DefaultLimitBufferedBody)
	if l.HeaderLine > l.Head {
		v.errorf(at, "limits.headerLine (%d) must not exceed limits.head (%d)", l.HeaderLine, l.Head)
	}
	if l.URL > l.Head {
		v.errorf(at, "limits.url (%d) must not exceed limits.head (%d): the request line is part of the head", l.URL, l.Head)
	}
}

func setDefault[T ByteSize | Duration | int](p *T, d T) {
	if *p == 0 {
		*p = d
	}
}
