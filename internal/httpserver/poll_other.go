//go:build !linux

package httpserver

// poller is the Linux epoll waiter of parked connections; elsewhere a
// parked connection waits on a goroutine of its own (waitParked).
type poller struct{}

func (p *poller) add(c *conn) bool { return false }
func (p *poller) forget(c *conn)   {}
func (p *poller) stop()            {}
