package httpserver

import (
	"sync"
	"syscall"
)

// poller waits, on one goroutine and one epoll instance for the whole
// server, for the next request of parked connections, so that a parked
// connection has no goroutine (and no stack) at all: its cost is its conn
// and the runtime's socket. The sockets stay in Go's own netpoller too; the
// epoll registration here is one-shot, and a socket that becomes readable
// (a request, or the client closing) is handed back to a new goroutine
// that serves it the usual way.
type poller struct {
	once  sync.Once
	epfd  int
	wake  [2]int // a pipe whose read end stops the loop
	err   error
	mu    sync.Mutex
	conns map[int32]*conn
	done  chan struct{}
	ended bool // stop was called
}

func (p *poller) start() error {
	p.once.Do(func() {
		p.epfd, p.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if p.err != nil {
			return
		}
		if p.err = syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); p.err != nil {
			syscall.Close(p.epfd)
			return
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0])}
		if p.err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); p.err != nil {
			syscall.Close(p.epfd)
			syscall.Close(p.wake[0])
			syscall.Close(p.wake[1])
			return
		}
		p.conns = map[int32]*conn{}
		p.done = make(chan struct{})
		go p.loop()
	})
	return p.err
}

// add registers a parked connection (the caller holds the server's mu and
// has checked that no one closed it): it reports false when the socket
// cannot be polled, and the caller waits for it on a goroutine instead.
func (p *poller) add(c *conn) bool {
	sc, ok := c.rwc.(syscall.Conn)
	if !ok || p.ended || p.start() != nil {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	added := false
	cerr := rc.Control(func(fd uintptr) {
		// Inside Control the descriptor cannot be closed under us.
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
		p.mu.Lock()
		defer p.mu.Unlock()
		c.pollFD = int32(fd)
		p.conns[int32(fd)] = c
		c.polled.Store(true)
		err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		if err == syscall.EEXIST { // still registered, disarmed, from an earlier park
			err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		}
		if err != nil {
			delete(p.conns, int32(fd))
			c.polled.Store(false)
			return
		}
		added = true
	})
	return cerr == nil && added
}

// forget drops a polled connection that is being closed.
func (p *poller) forget(c *conn) {
	p.mu.Lock()
	if p.conns[c.pollFD] == c {
		delete(p.conns, c.pollFD)
	}
	p.mu.Unlock()
}

func (p *poller) loop() {
	defer close(p.done)
	var events [128]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(p.epfd, events[:], -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(p.wake[0]) {
				syscall.Close(p.epfd)
				syscall.Close(p.wake[0])
				syscall.Close(p.wake[1])
				return
			}
			p.mu.Lock()
			c := p.conns[ev.Fd]
			delete(p.conns, ev.Fd)
			p.mu.Unlock()
			if c == nil {
				continue
			}
			// A fresh stamp first, so that the sweeper does not take
			// the woken connection for one idle past parkDelay.
			c.since.Store(c.srv.clock.Load())
			if c.state.CompareAndSwap(stateParked, stateIdle) {
				c.polled.Store(false)
				go c.serve()
			}
		}
	}
}

// stop ends the loop, if it was started, and waits for it (under the
// server's mu, as add).
func (p *poller) stop() {
	if p.done == nil || p.ended {
		return
	}
	p.ended = true
	syscall.Write(p.wake[1], []byte{1})
	<-p.done
}
