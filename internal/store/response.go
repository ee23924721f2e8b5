package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// CachedResponse is a response stored by cache-store and served by
// cache-lookup. Its binary encoding (MarshalBinary) is what the Store holds,
// so every replica sharing a Redis can serve what another one stored.
type CachedResponse struct {
	// StatusCode is the HTTP status of the stored response.
	StatusCode int
	// Header holds the stored response headers (hop-by-hop headers should
	// be removed before storing).
	Header http.Header
	// Body is the whole response body.
	Body []byte
	// StoredAt is when the response was stored.
	StoredAt time.Time
	// TTL is how long the entry lives (cache-store duration).
	TTL time.Duration
}

// cachedResponseMagic starts every encoded CachedResponse; the last byte
// is the format version.
var cachedResponseMagic = []byte{'A', 'G', 'C', 1}

// ErrBadCachedResponse is wrapped by UnmarshalBinary's errors: the bytes are
// not a CachedResponse of a known version (a foreign or corrupt entry, which
// the caller treats as a miss).
var ErrBadCachedResponse = errors.New("store: bad cached response encoding")

// MarshalBinary encodes r.
func (r *CachedResponse) MarshalBinary() ([]byte, error) {
	if r.StatusCode < 100 || r.StatusCode > 999 {
		return nil, fmt.Errorf("encode cached response: status %d out of range", r.StatusCode)
	}
	size := len(cachedResponseMagic) + 4*binary.MaxVarintLen64 + len(r.Body)
	for k, vs := range r.Header {
		size += len(k) + 2*binary.MaxVarintLen64
		for _, v := range vs {
			size += len(v) + binary.MaxVarintLen64
		}
	}
	b := make([]byte, 0, size)
	b = append(b, cachedResponseMagic...)
	b = binary.AppendUvarint(b, uint64(r.StatusCode))
	b = binary.AppendVarint(b, r.StoredAt.UnixNano())
	b = binary.AppendVarint(b, int64(r.TTL))
	b = binary.AppendUvarint(b, uint64(len(r.Header)))
	for k, vs := range r.Header {
		b = appendBytes(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendBytes(b, v)
		}
	}
	b = appendBytes(b, r.Body)
	return b, nil
}

func appendBytes[S string | []byte](b []byte, s S) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// UnmarshalBinary decodes data into r. r.Body aliases data (no copy: a
// cache hit is served straight from the stored bytes), so data must not be
// modified afterwards; header names and values are copied.
func (r *CachedResponse) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if len(data) < len(cachedResponseMagic) || string(data[:len(cachedResponseMagic)]) != string(cachedResponseMagic) {
		return fmt.Errorf("%w: missing header", ErrBadCachedResponse)
	}
	d.b = d.b[len(cachedResponseMagic):]
	status := d.uvarint()
	stored := d.varint()
	ttl := d.varint()
	nh := d.uvarint()
	if d.err == nil && (status < 100 || status > 999) {
		d.err = fmt.Errorf("status %d out of range", status)
	}
	// Every header takes at least two bytes, which bounds the count by the
	// input and keeps a hostile count from allocating.
	if d.err == nil && nh > uint64(len(d.b)/2) {
		d.err = fmt.Errorf("header count %d exceeds input", nh)
	}
	var h http.Header
	if d.err == nil {
		h = make(http.Header, nh)
	}
	for i := uint64(0); d.err == nil && i < nh; i++ {
		k := string(d.bytes())
		nv := d.uvarint()
		if d.err == nil && nv > uint64(len(d.b)) {
			d.err = fmt.Errorf("value count %d exceeds input", nv)
			break
		}
		vs := make([]string, 0, nv)
		for j := uint64(0); d.err == nil && j < nv; j++ {
			vs = append(vs, string(d.bytes()))
		}
		h[k] = vs
	}
	body := d.bytes()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("%w: %v", ErrBadCachedResponse, d.err)
	}
	*r = CachedResponse{
		StatusCode: int(status),
		Header:     h,
		Body:       body,
		StoredAt:   time.Unix(0, stored),
		TTL:        time.Duration(ttl),
	}
	return nil
}

// Expired reports whether the entry's TTL has passed at now.
func (r *CachedResponse) Expired(now time.Time) bool {
	return !now.Before(r.StoredAt.Add(r.TTL))
}

// Age is how long ago the entry was stored (for the Age header), never
// negative.
func (r *CachedResponse) Age(now time.Time) time.Duration {
	return max(now.Sub(r.StoredAt), 0)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errors.New("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("length %d exceeds remaining %d bytes", n, len(d.b))
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}
