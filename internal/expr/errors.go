package expr

import (
	"fmt"
	"strings"
)

// Error is a compile-time (load-time) error in an expression. Line and Col are
// 1-based and relative to the start of the source given to Compile.
type Error struct {
	Line, Col int
	Msg       string
	off       int
}

// Error returns "line:col: msg".
func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// locate fills Line and Col from the byte offset.
func (e *Error) locate(src string) *Error {
	off := e.off
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	before := src[:off]
	e.Line = strings.Count(before, "\n") + 1
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		e.Col = len([]rune(before[i+1:])) + 1
	} else {
		e.Col = len([]rune(before)) + 1
	}
	return e
}

// RuntimeError is an error raised while evaluating an expression (null
// reference, bad cast, parse failure, ...). The policy engine maps it to
// ExpressionValueEvaluationFailure. Type is the .NET exception type name
// (e.g. "NullReferenceException") that catch clauses match against.
type RuntimeError struct {
	Type string
	Msg  string
	// Err is the cause, when the failure was not the expression's own (a
	// body that could not be read).
	Err error
	exc *Exception // the thrown exception object, when an expression threw one
}

// Error returns the message.
func (e *RuntimeError) Error() string { return e.Msg }

// Unwrap returns the cause.
func (e *RuntimeError) Unwrap() error { return e.Err }

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func rtErr(typ, format string, args ...any) *RuntimeError {
	return &RuntimeError{Type: typ, Msg: fmt.Sprintf(format, args...)}
}

var errNullRef = &RuntimeError{Type: "NullReferenceException", Msg: "Object reference not set to an instance of an object."}

func nullRef() error { return errNullRef }

func errIndexRange() error {
	return &RuntimeError{Type: "ArgumentOutOfRangeException", Msg: "Index was out of range. Must be non-negative and less than the size of the collection."}
}

func errArrayIndex() error {
	return &RuntimeError{Type: "IndexOutOfRangeException", Msg: "Index was outside the bounds of the array."}
}

func errFormat(what string) error {
	return &RuntimeError{Type: "FormatException", Msg: what}
}

func errInvalidCast(v any, to string) error {
	return &RuntimeError{Type: "InvalidCastException", Msg: fmt.Sprintf("Unable to cast object of type '%s' to type '%s'.", typeName(v), to)}
}

func errKeyNotFound(key string) error {
	return &RuntimeError{Type: "KeyNotFoundException", Msg: fmt.Sprintf("The given key '%s' was not present in the dictionary.", key)}
}

func errArgNull(param string) error {
	return &RuntimeError{Type: "ArgumentNullException", Msg: fmt.Sprintf("Value cannot be null. (Parameter '%s')", param)}
}

func errArg(format string, args ...any) error {
	return &RuntimeError{Type: "ArgumentException", Msg: fmt.Sprintf(format, args...)}
}

func errArgRange(param string) error {
	return &RuntimeError{Type: "ArgumentOutOfRangeException", Msg: fmt.Sprintf("Specified argument was out of the range of valid values. (Parameter '%s')", param)}
}

func errInvalidOp(msg string) error {
	return &RuntimeError{Type: "InvalidOperationException", Msg: msg}
}

func errNoMember(v any, name string) error {
	return &RuntimeError{Type: "RuntimeBinderException", Msg: fmt.Sprintf("'%s' does not contain a definition for '%s'", typeName(v), name)}
}
