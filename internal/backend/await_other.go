//go:build !unix

package backend

func (c *countingWriter) writeAwait(p []byte) (int, error) { return c.rest.Write(p) }

func (c *countingWriter) awaitStep(uintptr) bool { return true }
