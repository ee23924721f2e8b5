// Package backend is the gateway's outbound connection manager: it sends
// requests to backends over pooled keep-alive connections, one pool per
// destination IP:port, bounds the connections to each destination and queues
// requests that find none free, retries the keep-alive race once when that is
// safe, spreads connections over every address a backend host has, and keeps
// a PortLedger per destination that counts the source ports held (open
// connections plus closed ones still inside the SNAT reclaim window) against
// the SNAT port budget. HTTP/1.1 goes over the package's own client; HTTP/2
// (h2, h2c) over net/http ClientConns that the pool owns, a stream reserved
// per request, under the same connection bound and queue. Host names are
// resolved again when their records' TTL passes (at most DNSRefresh later),
// and a request may present a TLS client certificate (WithClientCert), which
// gets connections of its own. A Manager is an
// http.RoundTripper; every failure it returns is an *Error carrying APIM's
// error reason and message.
package backend
