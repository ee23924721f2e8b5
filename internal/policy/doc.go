// Package policy compiles APIM policy XML into Pipelines and runs them.
//
// A policy file is parsed once (policyxml), each element is compiled into a
// Step (one file per policy family), and the scopes of one operation are
// composed through <base/> into a Pipeline with four sections. At request
// time a Pipeline runs over a State: inbound, backend, outbound, and on-error
// when any step fails. The request path does no XML or expression parsing.
package policy
