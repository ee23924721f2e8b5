// Package sockio has what write-then-wait (the HTTP server's and the
// backend client's) needs below net.Conn: the system calls it makes itself
// inside a syscall.RawConn callback (the write before the wait: AwaitWrite, a
// peek, the read once the wait is over: AwaitRead), and the socket under a
// TLS connection that collects the records it ends with.
package sockio
