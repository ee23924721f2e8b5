package diagnose

import (
	"bytes"
	"errors"
	"strings"

	"github.com/apimgw/apimgw/internal/logs"
)

// field identifies one log column that the analysis reads. Every other
// column is skipped.
type field uint8

const (
	fieldNone field = iota
	fieldTime
	fieldResponseCode
	fieldBackendResponseCode
	fieldBackendTime
	fieldTotalTime
	fieldBackendURL
	fieldReason
	fieldMessage
	fieldSource
	fieldDetail     // apimgw's LastErrorDetail: the connection failure's own cause
	fieldProperties // Azure diagnostic-settings records nest columns here
	fieldLastError  // ... and the last error here
	fieldBackendID  // the backend entity's id, as the gateway names it
)

// reason is the LastErrorReason column reduced to what classification needs.
type reason uint8

const (
	reasonNone reason = iota
	reasonBackendConnection
	reasonTimeout
	reasonClientConnection
	reasonRateLimit
	reasonQuota
	reasonConcurrency
	reasonCircuit
	reasonOther
)

// Entry flags.
const (
	// flagRefused: the error message says the destination actively refused
	// or could not be resolved — a down backend, not a lack of source ports.
	flagRefused uint8 = 1 << iota
	// flagCircuit: message or source mention a circuit breaker.
	flagCircuit
	// flagHasBackendTime: the BackendTime column was present.
	flagHasBackendTime
	// flagHasCode: the ResponseCode column was present; a record without
	// one cannot be classified and is reported as a bad line.
	flagHasCode
	// flagSNAT: apimgw's LastErrorDetail says its own SNAT port budget
	// refused the connection (snat.enforce): exhaustion, not a guess.
	flagSNAT
)

// errNoCode is the error of a record without a ResponseCode.
var errNoCode = errors.New("no ResponseCode")

// entry is one log record reduced to the columns the analysis uses. It is
// a plain value so the readers fill it without allocating.
type entry struct {
	t           int64 // TimeGenerated, Unix milliseconds
	backendTime int64 // ms
	totalTime   int64 // ms
	code        int32 // ResponseCode
	backendCode int32 // BackendResponseCode (0 = no response from the backend)
	dest        int32 // index into destTable, -1 when the request had no backend
	bid         int32 // index into destTable.ids (BackendId), -1 when none
	snatBudget  int32 // the port budget apimgw's LastErrorDetail names, 0 when none
	reason      reason
	flags       uint8
}

func (e *entry) reset() { *e = entry{dest: -1, bid: -1} }

// fieldOf maps a column name to the field it carries. Exact apimgw / Azure
// names are matched first (the hot path for JSON lines); other spellings —
// any case, "TimeGenerated [UTC]", AzureDiagnostics' "backendTime_d" — are
// normalised on a stack buffer, so the lookup never allocates.
func fieldOf(key []byte) field {
	switch string(key) {
	case "TimeGenerated":
		return fieldTime
	case "ResponseCode":
		return fieldResponseCode
	case "BackendResponseCode":
		return fieldBackendResponseCode
	case "BackendTime":
		return fieldBackendTime
	case "TotalTime":
		return fieldTotalTime
	case "BackendUrl":
		return fieldBackendURL
	case "LastErrorReason":
		return fieldReason
	case "LastErrorMessage":
		return fieldMessage
	case "LastErrorSource":
		return fieldSource
	case "LastErrorDetail":
		return fieldDetail
	case "CorrelationId", "Method", "Url", "ResponseSize", "BackendMethod", "ClientTime",
		"Cache", "CallerIpAddress", "ApiId", "OperationId", "ProductId", "ApimSubscriptionId",
		"IsRequestSuccess", "LastErrorSection", "Errors":
		return fieldNone
	case "BackendId":
		return fieldBackendID
	}
	var buf [64]byte
	n := normalizeKey(&buf, key)
	switch string(buf[:n]) {
	case "timegenerated", "timestamp", "time", "eventtime":
		return fieldTime
	case "responsecode", "statuscode", "httpstatuscode":
		return fieldResponseCode
	case "backendresponsecode", "backendstatuscode":
		return fieldBackendResponseCode
	case "backendtime", "backendtimems":
		return fieldBackendTime
	case "totaltime", "durationms", "totaltimems":
		return fieldTotalTime
	case "backendurl":
		return fieldBackendURL
	case "lasterrorreason":
		return fieldReason
	case "lasterrormessage":
		return fieldMessage
	case "lasterrorsource":
		return fieldSource
	case "lasterrordetail":
		return fieldDetail
	case "properties":
		return fieldProperties
	case "lasterror":
		return fieldLastError
	case "backendid":
		return fieldBackendID
	}
	return fieldNone
}

// normalizeKey lower-cases key, drops a bracketed suffix ("TimeGenerated
// [UTC]"), an AzureDiagnostics type suffix ("_s", "_d", "_b") and every
// space, underscore and dot. Keys longer than the buffer are truncated,
// which only makes them match nothing.
func normalizeKey(buf *[64]byte, key []byte) int {
	if i := bytes.IndexByte(key, '['); i >= 0 {
		key = key[:i]
	}
	key = bytes.TrimSpace(key)
	if n := len(key); n > 2 && key[n-2] == '_' {
		switch key[n-1] {
		case 's', 'd', 'b', 'g', 't':
			key = key[:n-2]
		}
	}
	n := 0
	for _, c := range key {
		switch {
		case c == ' ' || c == '_' || c == '.' || c == '-':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if n == len(buf) {
			break
		}
		buf[n] = c
		n++
	}
	return n
}

// parseReason reduces a LastErrorReason value to a reason.
func parseReason(b []byte) reason {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return reasonNone
	case bytes.EqualFold(b, []byte("BackendConnectionFailure")):
		return reasonBackendConnection
	case bytes.EqualFold(b, []byte("Timeout")):
		return reasonTimeout
	case bytes.EqualFold(b, []byte("ClientConnectionFailure")):
		return reasonClientConnection
	case bytes.EqualFold(b, []byte("RateLimitExceeded")):
		return reasonRateLimit
	case bytes.EqualFold(b, []byte("QuotaExceeded")):
		return reasonQuota
	case containsFold(b, "circuit") || containsFold(b, "breaker"):
		return reasonCircuit // apimgw: CircuitBreakerOpen
	case bytes.EqualFold(b, []byte("BackendUnavailable")):
		// apimgw: no member of a backend pool is usable, i.e. every
		// member's circuit breaker is open.
		return reasonCircuit
	case containsFold(b, "ratelimit") || containsFold(b, "rate limit"):
		return reasonRateLimit
	case containsFold(b, "quota"):
		return reasonQuota
	case containsFold(b, "concurrency"):
		return reasonConcurrency
	case containsFold(b, "timeout") || containsFold(b, "timed out"):
		return reasonTimeout
	case containsFold(b, "connectionfailure") && containsFold(b, "backend"):
		return reasonBackendConnection
	case containsFold(b, "connectionfailure") && containsFold(b, "client"):
		return reasonClientConnection
	}
	return reasonOther
}

// budgetKey is what precedes the budget's number in the detail.
var budgetKey = func() []byte { k, _, _ := strings.Cut(logs.SNATBudgetDetail, "%d"); return []byte(k) }()

// detailBudget reads the port budget from apimgw's LastErrorDetail of an
// enforced SNAT budget ("… snat port budget exhausted (budget of 20 ports,
// 20 held)"), 0 when it names none.
func detailBudget(b []byte) int32 {
	i := bytes.Index(b, budgetKey)
	if i < 0 {
		return 0
	}
	var n int32
	for _, c := range b[i+len(budgetKey):] {
		if c < '0' || c > '9' || n > 1<<24 {
			break
		}
		n = n*10 + int32(c-'0')
	}
	return n
}

// detailFlags inspects apimgw's LastErrorDetail: the cause Go reported.
func detailFlags(b []byte) uint8 {
	f := messageFlags(b)
	if containsFold(b, logs.SNATExhaustedDetail) {
		f |= flagSNAT
	}
	return f
}

// messageFlags inspects LastErrorMessage / LastErrorSource text.
func messageFlags(b []byte) uint8 {
	var f uint8
	if containsFold(b, "refused") || containsFold(b, "no such host") ||
		containsFold(b, "name resolution") || containsFold(b, "could not be resolved") ||
		containsFold(b, "name or service not known") {
		f |= flagRefused
	}
	if containsFold(b, "circuit") || containsFold(b, "breaker") {
		f |= flagCircuit
	}
	return f
}

// containsFold reports whether s contains the lower-case ASCII needle,
// ignoring ASCII case in s.
func containsFold(s []byte, needle string) bool {
	n := len(needle)
	if n == 0 {
		return true
	}
	first := needle[0]
	for i := 0; i+n <= len(s); i++ {
		c := s[i] | 0x20
		if c != first {
			continue
		}
		j := 1
		for ; j < n; j++ {
			d := s[i+j]
			if 'A' <= d && d <= 'Z' {
				d += 'a' - 'A'
			}
			if d != needle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// destTable interns destinations (scheme://host[:port]) so that bins
// index them by a small integer and memory stays bounded by the number of
// distinct destinations, not of distinct request URLs.
type destTable struct {
	index map[string]int32
	names []string
	// Backend ids (the BackendId column), interned like destinations, and
	// how many records named each id per destination, so that a
	// mitigation can name the backend as the gateway's configuration does.
	idIndex map[string]int32
	ids     []string
	destIDs [][]idCount // by destination
	lastID  int32       // the id internID returned last, -1 before any
}

// idCount counts the records of one destination that named one backend.
type idCount struct {
	id int32
	n  int64
}

func newDestTable() *destTable {
	return &destTable{index: make(map[string]int32), idIndex: make(map[string]int32), lastID: -1}
}

// maxBackendIDs bounds the distinct BackendId values kept.
const maxBackendIDs = 10_000

// internID returns the index of a BackendId value, or -1 when it is empty
// (or too many distinct ids were seen).
func (d *destTable) internID(v []byte) int32 {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || len(v) > 256 || string(v) == "null" {
		return -1
	}
	// Consecutive records mostly name the same backend.
	if d.lastID >= 0 && string(v) == d.ids[d.lastID] {
		return d.lastID
	}
	if i, ok := d.idIndex[string(v)]; ok {
		d.lastID = i
		return i
	}
	if len(d.ids) >= maxBackendIDs {
		return -1
	}
	name := string(v)
	i := int32(len(d.ids))
	d.idIndex[name] = i
	d.ids = append(d.ids, name)
	d.lastID = i
	return i
}

// noteID counts one record of destination dest that named backend bid.
func (d *destTable) noteID(dest, bid int32) {
	if dest < 0 || bid < 0 {
		return
	}
	if int(dest) >= len(d.destIDs) {
		d.destIDs = append(d.destIDs, make([][]idCount, int(dest)+1-len(d.destIDs))...)
	}
	counts := d.destIDs[dest]
	for i := range counts {
		if counts[i].id == bid {
			counts[i].n++
			return
		}
	}
	if len(counts) < 64 { // a destination behind more backends keeps its first 64
		d.destIDs[dest] = append(counts, idCount{id: bid, n: 1})
	}
}

// backendID returns the BackendId most records of destination dest
// named ("" when none did); ties go to the id seen first.
func (d *destTable) backendID(dest int32) string {
	best, bestN := int32(-1), int64(0)
	if dest < 0 || int(dest) >= len(d.destIDs) {
		return ""
	}
	for _, c := range d.destIDs[dest] {
		if c.n > bestN || c.n == bestN && c.id < best {
			best, bestN = c.id, c.n
		}
	}
	if best < 0 {
		return ""
	}
	return d.ids[best]
}

// intern returns the index of the destination that rawURL points at, or
// -1 when rawURL is empty.
func (d *destTable) intern(rawURL []byte) int32 {
	var buf [256]byte
	dest := destinationOf(&buf, rawURL)
	if len(dest) == 0 {
		return -1
	}
	if i, ok := d.index[string(dest)]; ok {
		return i
	}
	name := string(dest)
	i := int32(len(d.names))
	d.index[name] = i
	d.names = append(d.names, name)
	return i
}

// destinationOf reduces a URL to scheme://host[:port] (lower-cased host,
// default port dropped) into buf. A value without a scheme is taken as a
// host name.
func destinationOf(buf *[256]byte, u []byte) []byte {
	u = bytes.TrimSpace(u)
	if len(u) == 0 {
		return nil
	}
	scheme := []byte(nil)
	rest := u
	if i := bytes.Index(u, []byte("://")); i > 0 {
		scheme = u[:i]
		rest = u[i+3:]
	}
	end := len(rest)
	for i, c := range rest {
		if c == '/' || c == '?' || c == '#' || c == '\\' {
			end = i
			break
		}
	}
	host := rest[:end]
	if at := bytes.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	out := buf[:0]
	for _, c := range scheme {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	if len(scheme) > 0 {
		out = append(out, "://"...)
	}
	for _, c := range host {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if len(out) == cap(out) {
			break
		}
		out = append(out, c)
	}
	switch {
	case bytes.HasPrefix(out, []byte("http://")) && bytes.HasSuffix(out, []byte(":80")):
		out = out[:len(out)-3]
	case bytes.HasPrefix(out, []byte("https://")) && bytes.HasSuffix(out, []byte(":443")):
		out = out[:len(out)-4]
	}
	return out
}
