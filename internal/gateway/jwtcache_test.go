package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

// hs256 signs claims (JSON) with secret.
func hs256(secret []byte, claims string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

// A token validate-jwt has cached is rejected once a reload changed the
// policy's key: the new configuration's policies start with empty caches.
func TestJWTCacheDoesNotOutliveAReload(t *testing.T) {
	keyA, keyB := []byte("key-a-key-a-key-a-key-a-key-a-!!"), []byte("key-b-key-b-key-b-key-b-key-b-!!")
	yaml := func(key []byte) string {
		return `
namedValues: {jwt-key: "` + base64.StdEncoding.EncodeToString(key) + `"}
apis:
  - id: a
    path: a
    subscriptionRequired: false
    policy: api.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`
	}
	h := start(t, map[string]string{
		"gateway.yaml": yaml(keyA),
		"api.xml": `<policies><inbound>
<validate-jwt header-name="Authorization"><issuer-signing-keys><key>{{jwt-key}}</key></issuer-signing-keys></validate-jwt>
<return-response><set-status code="200"/><set-body>ok</set-body></return-response>
</inbound></policies>`,
	})
	token := map[string]string{"Authorization": "Bearer " + hs256(keyA, `{"sub":"alice","exp":4102444800}`)}
	status := func() int {
		resp, _ := h.do("GET", "/a/x", nil, token)
		return resp.StatusCode
	}
	for i := 0; i < 3; i++ {
		if s := status(); s != 200 {
			t.Fatalf("key A, call %d: status %d", i, s)
		}
	}
	reload := func(key []byte) {
		t.Helper()
		path := filepath.Join(h.dir, "gateway.yaml")
		if err := os.WriteFile(path, []byte(yaml(key)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := h.gw.ReloadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	reload(keyB)
	for i := 0; i < 2; i++ {
		if s := status(); s != 401 {
			t.Fatalf("after the reload to key B, call %d: status %d, want 401", i, s)
		}
	}
	reload(keyA)
	if s := status(); s != 200 {
		t.Fatalf("back to key A: status %d", s)
	}
}
