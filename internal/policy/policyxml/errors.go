package policyxml

import (
	"strings"
)

// SyntaxError is an error in a policy document, with its position.
type SyntaxError struct {
	// Filename is the name given to Parse; empty for Substitute, whose
	// callers may fill it in.
	Filename string
	// Pos is where the problem is.
	Pos Pos
	// Msg describes the problem.
	Msg string
}

// Error formats the error as "file:line:col: msg" (without "file:" when
// Filename is empty).
func (e *SyntaxError) Error() string {
	if e.Filename == "" {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Filename + ":" + e.Pos.String() + ": " + e.Msg
}

// ErrorList is a list of syntax errors in document order, returned when there
// can be several (Substitute reports every unknown named value).
type ErrorList []*SyntaxError

// Error formats the errors one per line.
func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap returns the errors of the list, so that errors.As finds the first
// *SyntaxError.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}
