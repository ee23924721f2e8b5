// Package expr compiles and evaluates APIM policy expressions: the C# subset
// written as "@(expression)" or "@{ statements }" in policy XML.
//
// Compile parses, checks and compiles an expression once, at configuration
// load, into a tree of Go closures; unknown context members, unknown types
// and methods, wrong arity where it is knowable, and C# constructs outside the
// supported subset are load-time *Error values with line and column. A
// Program is then evaluated per request against a *Context (the object model
// APIM exposes as `context`, filled by the policy engine) without parsing,
// reflection or member lookup by name; failures at run time are *RuntimeError
// values carrying the .NET exception type and message.
//
// Values follow C# and Newtonsoft.Json semantics where policies can observe
// them: ToString formatting, JSON key order and Newtonsoft's output format,
// int overflow, string comparison options, .NET date and number format
// strings. FEATURES.md lists what is supported and the known gaps.
package expr
