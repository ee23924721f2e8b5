// Package reqctx provides Ctx, the cancellable context.Context of one
// client request and of one backend call made for it. It behaves as
// context.WithCancel (plus an optional timeout) for every consumer, but is
// cheaper on the path every request takes: one allocation instead of five
// to nine (cancelCtx, cancel closure, children map in the parent, done
// channel, afterFuncCtx), because
//
//   - a Ctx derived from a Ctx links to it directly instead of through the
//     parent's children map or a goroutine;
//   - its done channel is made only when someone asks for Done;
//   - AfterFunc registers a function without allocating a context for it,
//     and runs it synchronously when the Ctx is cancelled: functions given
//     to AfterFunc must be quick and must not block (closing a socket,
//     cancelling another context);
//   - its timeout waits in a queue with those of the same duration rather
//     than on a runtime timer of its own (see timer.go).
//
// A standard-library context derived from a Ctx works as usual (through
// the AfterFunc hook Go's context package looks for).
package reqctx
