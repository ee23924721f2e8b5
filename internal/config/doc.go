// Package config loads gateway.yaml into a typed, validated Config. Decoding is
// strict: an unknown key, a value of the wrong type or a dangling reference is
// an error that names file:line:col. Paths in the file are resolved relative to
// the file's directory.
package config
