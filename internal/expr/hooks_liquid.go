package expr

import "time"

// FormatDateTime formats t as DateTime.ToString(format) does with the
// invariant culture (standard and custom .NET formats). It is exported for
// the Liquid Date filter of set-body.
func FormatDateTime(t time.Time, format string) (string, error) { return formatDateTime(t, format) }

// ParseDateTime parses s as DateTime.Parse does with the invariant culture.
// It is exported for the Liquid Date filter of set-body.
func ParseDateTime(s string) (time.Time, error) { return parseDateTime(s) }
