//go:build !unix

package httpserver

import "syscall"

// Without unix system calls, connections read the usual way.
const awaitSupported = false

func (c *conn) writeAwait(p []byte) (int, error) { return stallWriter{c}.Write(p) }

func (c *conn) awaitStep(uintptr) bool { return true }

func pendingBytes(syscall.RawConn) bool { return false }
