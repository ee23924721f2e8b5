//go:build !unix

package backend

func (c *countingWriter) writeAwait(p []byte) (int, error) { return c.rest.Write(p) }

func (c *countingWriter) awaitStep(uintptr) bool { return true }

func (c *countingWriter) readAwait(p []byte) (int, error) {
	pending := c.pending
	c.pending = nil
	n, err := c.rest.Write(pending)
	c.n += int64(n)
	if err != nil {
		return 0, &sendError{err}
	}
	return c.rest.Read(p)
}
