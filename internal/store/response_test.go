package store

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestCachedResponseRoundTrip(t *testing.T) {
	stored := time.Date(2026, 11, 25, 8, 0, 0, 123456789, time.UTC)
	for _, r := range []CachedResponse{
		{StatusCode: 200, Header: http.Header{}, Body: []byte{}, StoredAt: stored, TTL: time.Minute},
		{
			StatusCode: 200,
			Header: http.Header{
				"Content-Type": {"application/json"},
				"X-Multi":      {"a", "b", ""},
			},
			Body:     []byte(`{"id":1}`),
			StoredAt: stored,
			TTL:      90 * time.Second,
		},
		{StatusCode: 404, Header: http.Header{"Empty": {}}, Body: bytes.Repeat([]byte{0, 1, 2}, 10000), StoredAt: stored, TTL: time.Hour},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got CachedResponse
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		if got.StatusCode != r.StatusCode || !got.StoredAt.Equal(r.StoredAt) || got.TTL != r.TTL ||
			!bytes.Equal(got.Body, r.Body) || !reflect.DeepEqual(got.Header, r.Header) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestCachedResponseRejectsBadInput(t *testing.T) {
	good, _ := (&CachedResponse{StatusCode: 200, Header: http.Header{"A": {"b"}}, Body: []byte("x"), TTL: time.Second}).MarshalBinary()
	for name, in := range map[string][]byte{
		"empty":     nil,
		"magic":     []byte("nope"),
		"version":   append([]byte{'A', 'G', 'C', 9}, good[4:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
		"huge count": {'A', 'G', 'C', 1, 200, 1, 0, 0,
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		var r CachedResponse
		if err := r.UnmarshalBinary(in); !errors.Is(err, ErrBadCachedResponse) {
			t.Errorf("%s: err %v, want ErrBadCachedResponse", name, err)
		}
	}
	if _, err := (&CachedResponse{StatusCode: 42}).MarshalBinary(); err == nil {
		t.Error("status 42 encoded")
	}
}

func TestCachedResponseExpiry(t *testing.T) {
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	r := CachedResponse{StoredAt: at, TTL: time.Minute}
	if r.Expired(at.Add(59*time.Second)) || !r.Expired(at.Add(time.Minute)) {
		t.Fatal("Expired disagrees with the TTL")
	}
	if r.Age(at.Add(-time.Second)) != 0 || r.Age(at.Add(5*time.Second)) != 5*time.Second {
		t.Fatal("Age wrong")
	}
}

func FuzzCachedResponseUnmarshal(f *testing.F) {
	seed, _ := (&CachedResponse{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("hi"), TTL: time.Second}).MarshalBinary()
	f.Add(seed)
	f.Add([]byte("AGC\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r CachedResponse
		if err := r.UnmarshalBinary(data); err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same response.
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded response does not encode: %v", err)
		}
		var again CachedResponse
		if err := again.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-encoded response does not decode: %v", err)
		}
		if again.StatusCode != r.StatusCode || !bytes.Equal(again.Body, r.Body) || len(again.Header) != len(r.Header) {
			t.Fatalf("round trip changed the response")
		}
	})
}
