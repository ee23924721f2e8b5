// Package policyxml reads Azure API Management (APIM) policy documents into a
// small positioned tree of elements and text.
//
// It accepts both forms APIM itself accepts: the well-formed "xml" form, in
// which policy expressions are entity-escaped like any other XML text, and the
// "rawxml" form, in which expressions such as
//
//	<when condition="@(context.Variables.GetValueOrDefault<string>("x") == "a" && y < 3)">
//
// are written verbatim inside attribute values and element text. A standard
// XML decoder rejects the rawxml form, so this package finds the end of every
// expression the way APIM does: by balancing (), [] and {} with awareness of
// C# string, verbatim string, interpolated string, character literal and
// comment syntax. Everything outside expressions follows XML 1.0 rules.
//
// Substitute replaces APIM named values ({{name}}) in the policy text, which
// APIM does before parsing; call it first when named values are configured.
//
// The package only reads documents: it knows no policy element names and does
// not interpret expressions. The policy compiler builds on its tree.
package policyxml
