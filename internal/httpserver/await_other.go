//go:build !unix

package httpserver

import "syscall"

// Without unix system calls, connections read the usual way.
const awaitSupported = false

func (c *conn) writeAwait(p []byte) (int, error) { return c.writeSocket(c.raw, p) }

func (c *conn) awaitStep(uintptr) bool { return true }

func pendingBytes(syscall.RawConn) bool { return false }
