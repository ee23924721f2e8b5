// Package httpserver is the gateway's HTTP/1.1 server: a lean
// replacement for net/http.Server on the data plane that serves an ordinary
// http.Handler with net/http's request and response semantics (keep-alive,
// pipelining, chunked and fixed-length bodies, HEAD, Expect: 100-continue,
// HTTP/1.0, Connection: close, graceful Shutdown, Hijack for protocols such
// as WebSocket, trailers set with http.TrailerPrefix) while doing less
// work per
// request: one string for the whole request head, header maps reused per
// connection for the request and the response, no per-request goroutine or
// extra read, and no socket deadlines or timers set per request. Unlike
// net/http's, a request's Header map is the connection's: a handler must
// not keep it past its return, when the next request reuses it.
// Header, idle and write-stall timeouts are enforced by one sweeper per
// server that closes connections past their deadline; it also keeps the
// coarse clock connections stamp their state changes with.
//
// Parsing is strict where laxness enables request smuggling: a request with
// both Content-Length and Transfer-Encoding, differing Content-Length values,
// a transfer coding other than chunked, obsolete line folding, whitespace
// before a header colon, or control characters in a header is refused with
// 400 (501 for an unknown coding) and the connection is closed.
//
// The request's context is cancelled when the handler returns or when the
// client goes away. To learn the latter without a read per request, the
// server's sweeper starts watching the connection only once a request has
// been in the handler for 25 ms (see watchDelay, up to two sweeper ticks
// more), which is when an early
// cancellation starts to matter: requests waiting for a pooled backend
// connection, a retry interval or a slow backend.
//
// Resource limits: the request URL (414), one header line, the number of
// header lines and the whole head (431), the time to send a head, a
// minimum request-body rate after a grace (408, as Apache's
// mod_reqtimeout), the keep-alive idle time and the number of open
// connections; header names with '_' are dropped unless allowed. A
// keep-alive connection idle for a second is parked: its buffers and the
// handler's per-connection storage are given back and its goroutine ends,
// one epoll instance per server (Linux) waiting for the next request of all
// parked connections.
//
// With TLSConfig it serves HTTP/1.1 over TLS on the same connection loop
// (tls.go): the handshake under the header timeout, session resumption on
// the config's ticket keys, r.TLS set; clients that choose another protocol
// by ALPN (h2) are handed to TLSHandOff, net/http's server in the gateway,
// and stay counted against MaxConns. ConfigureNetHTTP and Guard give that
// net/http server the same limits.
package httpserver
