package gateway

import (
	"crypto/tls"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/testcerts"
)

// mtlsBackend requires a client certificate signed by ca, answers with its
// common name and counts TLS handshakes (connections) per common name.
func mtlsBackend(t *testing.T, ca *testcerts.CA) (*httptest.Server, func(cn string) int) {
	t.Helper()
	var mu sync.Mutex
	handshakes := map[string]int{}
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := r.TLS.PeerCertificates[0].Subject.CommonName
		if r.URL.Path == "/health" {
			mu.Lock()
			handshakes["probes by "+cn]++
			mu.Unlock()
		}
		_, _ = io.WriteString(w, cn)
	}))
	be.TLS = &tls.Config{
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  ca.Pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				mu.Lock()
				handshakes[cs.PeerCertificates[0].Subject.CommonName]++
				mu.Unlock()
			}
			return nil
		},
	}
	be.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	be.StartTLS()
	t.Cleanup(be.Close)
	return be, func(cn string) int {
		mu.Lock()
		defer mu.Unlock()
		return handshakes[cn]
	}
}

// TestAuthenticationCertificate: authentication-certificate presents a
// configured certificate (by id or thumbprint, PEM or PKCS#12) or one
// given in body; a backend's credentials certificate is presented by
// default; requests with the same certificate share connections; a
// request with none is refused by the backend and fails as
// BackendConnectionFailure.
func TestAuthenticationCertificate(t *testing.T) {
	ca := testcerts.NewCA(t, "test CA")
	alice, bob, carol := ca.Client(t, "alice"), ca.Client(t, "bob"), ca.Client(t, "carol")
	aliceCrt, aliceKey := testcerts.PEM(t, alice)
	bobThumb := mustThumbprint(t, bob)
	carolPFX := base64.StdEncoding.EncodeToString(testcerts.PFX(t, carol, "carol-pw"))
	be, handshakes := mtlsBackend(t, ca)

	h := start(t, map[string]string{
		"gateway.yaml": `
namedValues:
  carol-pfx: "` + carolPFX + `"
  bob-thumbprint: "` + strings.ToLower(bobThumb) + `"
certificates:
  alice: {cert: certs/alice.crt, key: certs/alice.key}
  bob: {pfx: certs/bob.pfx, password: bob-pw}
backends:
  secure:
    url: ` + be.URL + `
    tls: {validateCertificateChain: false}
    credentials: {certificateIds: ["/subscriptions/x/resourceGroups/y/providers/Microsoft.ApiManagement/service/z/certificates/bob"]}
    healthProbe: {path: /health, interval: 150ms, timeout: 150ms, healthyThreshold: 1, unhealthyThreshold: 1000}  # a slow probe under load must not take it out
apis:
  - id: a
    path: a
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    policy: api.xml
    operations:
      - {id: by-id, method: GET, urlTemplate: /id, policy: by-id.xml}
      - {id: by-thumbprint, method: GET, urlTemplate: /thumbprint, policy: by-thumbprint.xml}
      - {id: by-body, method: GET, urlTemplate: /body, policy: by-body.xml}
      - {id: backend, method: GET, urlTemplate: /backend, policy: backend.xml}
      - {id: none, method: GET, urlTemplate: /none}
      - {id: send-request, method: GET, urlTemplate: /send, policy: send.xml}
`,
		"certs/alice.crt":   string(aliceCrt),
		"certs/alice.key":   string(aliceKey),
		"certs/bob.pfx":     string(testcerts.PFX(t, bob, "bob-pw")),
		"api.xml":           `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
		"by-id.xml":         inbound(`<authentication-certificate certificate-id="alice" />`),
		"by-thumbprint.xml": inbound(`<authentication-certificate thumbprint="{{bob-thumbprint}}" />`),
		"by-body.xml":       inbound(`<authentication-certificate body="@(Convert.FromBase64String(&quot;{{carol-pfx}}&quot;))" password="carol-pw" />`),
		"backend.xml":       inbound(`<set-backend-service backend-id="secure" />`),
		"send.xml": inbound(`<send-request mode="new" response-variable-name="r" timeout="10">
  <set-url>` + be.URL + `/inner</set-url>
  <authentication-certificate certificate-id="alice" />
</send-request>
<return-response><set-status code="200" /><set-body>@(((IResponse)context.Variables["r"]).Body.As&lt;string&gt;())</set-body></return-response>`),
	})
	for round := range 3 {
		for path, want := range map[string]string{"/a/id": "alice", "/a/thumbprint": "bob", "/a/body": "carol", "/a/backend": "bob", "/a/send": "alice"} {
			resp, body := h.do("GET", path, nil, nil)
			if resp.StatusCode != 200 || body != want {
				t.Fatalf("round %d %s: %d %q, want %s", round, path, resp.StatusCode, body, want)
			}
		}
	}
	// The health probe presents the backend's certificate too: the backend
	// stays in rotation.
	deadline := time.Now().Add(5 * time.Second)
	for handshakes("probes by bob") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := handshakes("probes by bob"); n < 2 {
		t.Errorf("%d health probes presented bob's certificate, want 2 or more", n)
	}
	if resp, body := h.do("GET", "/a/backend", nil, nil); resp.StatusCode != 200 || body != "bob" {
		t.Fatalf("after probes: %d %q", resp.StatusCode, body)
	}
	for _, cn := range []string{"alice", "bob", "carol"} {
		// bob's requests and the probes share connections; a probe that
		// runs while a request does needs a second.
		if n, most := handshakes(cn), map[bool]int{true: 2, false: 1}[cn == "bob"]; n < 1 || n > most {
			t.Errorf("%s: %d connections, want 1 to %d shared by its requests (forward-request and send-request alike)", cn, n, most)
		}
	}
	mfs, err := h.gw.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	expiries := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "apimgw_client_certificate_expiry_timestamp_seconds" {
			for _, m := range mf.GetMetric() {
				expiries[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	if len(expiries) != 2 || expiries["bob"] != float64(bob.Leaf.NotAfter.Unix()) {
		t.Errorf("expiry metric: %v, want alice and bob, bob at %d", expiries, bob.Leaf.NotAfter.Unix())
	}
	resp, body := h.do("GET", "/a/none", nil, nil)
	wantAPIMError(t, resp, body, 502, "Bad Gateway")
	recs := h.records()
	if last := recs[len(recs)-1]; last.LastErrorReason != "BackendConnectionFailure" {
		t.Errorf("no certificate: log line %+v", last)
	}
}

// A policy or backend naming a certificate the configuration lacks, and a
// certificate file that cannot be read, are configuration errors with
// their positions; the gateway refuses the configuration.
func TestCertificateConfigErrors(t *testing.T) {
	ca := testcerts.NewCA(t, "test CA")
	alice := ca.Client(t, "alice")
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("alice.pfx", testcerts.PFX(t, alice, "right"))
	aliceCrt, _ := testcerts.PEM(t, alice)
	write("alice.crt", aliceCrt)
	write("api.xml", []byte(inbound(`<authentication-certificate certificate-id="nobody" />`)))
	gatewayYAML := func(extraCert string) []byte {
		return []byte(`certificates:
  alice: {pfx: alice.pfx, password: wrong}
` + extraCert + `caCertificates: [{path: alice.crt}]
backends:
  b:
    url: https://127.0.0.1:1
    credentials: {certificate: ["AB12"]}
apis:
  - {id: a, path: a, serviceUrl: "https://127.0.0.1:1", subscriptionRequired: false, policy: api.xml, operations: [{id: o, method: GET, urlTemplate: /}]}
`)
	}
	write("gateway.yaml", gatewayYAML("  half: {cert: alice.crt}\n"))
	_, err := config.Load(filepath.Join(dir, "gateway.yaml"))
	if err == nil || !strings.Contains(err.Error(), `gateway.yaml:3:9: certificate "half" needs both cert and key`) {
		t.Fatalf("config: %v", err)
	}
	write("gateway.yaml", gatewayYAML(""))
	cfg, err := config.Load(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, Options{})
	if err == nil {
		t.Fatal("New accepted the configuration")
	}
	for _, want := range []string{
		`gateway.yaml:2:10: certificate "alice": PKCS#12 (.pfx): wrong password`,
		`gateway.yaml:6:5: backend "b": credentials.certificate names thumbprint "AB12", which no configured certificate has`,
		`gateway.yaml:3:18: caCertificates: alice.crt: "CN=alice" is not a certificate authority`,
		`api.xml:1:`, `no certificate in the configuration (certificates) has id "nobody"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors do not mention %q:\n%v", want, err)
		}
	}
}

func inbound(steps string) string {
	return `<policies><inbound><base/>` + steps + `</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
}

func mustThumbprint(t *testing.T, c tls.Certificate) string {
	t.Helper()
	cc, err := backend.NewClientCert("", c)
	if err != nil {
		t.Fatal(err)
	}
	return cc.Thumbprint
}

// TestNegotiateClientCertificate: a TLS listener with
// negotiateClientCertificate asks clients for a certificate;
// validate-client-certificate trusts the configured caCertificates and
// checks the identity; a client without a certificate, or with one from
// another authority, is refused with 401.
func TestNegotiateClientCertificate(t *testing.T) {
	dir := t.TempDir()
	serverPool := writeCert(t, dir)
	ca, other := testcerts.NewCA(t, "Partner CA"), testcerts.NewCA(t, "Other CA")
	if err := os.WriteFile(filepath.Join(dir, "partner-ca.pem"), ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := inbound(`<validate-client-certificate validate-revocation="false" validate-trust="true" validate-not-before="true" validate-not-after="true">
  <identities><identity common-name="partner-app" issuer-subject="CN=Partner CA" /></identities>
</validate-client-certificate>
<return-response><set-status code="200" /><set-body>@(context.Request.Certificate.Subject)</set-body></return-response>`)
	if err := os.WriteFile(filepath.Join(dir, "mtls.xml"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := serveConfig(t, dir, `listen: 127.0.0.1:0
admin: 127.0.0.1:0
logs: {path: `+filepath.Join(dir, "gw.log")+`}
tls: {cert: cert.pem, key: key.pem, negotiateClientCertificate: true}
caCertificates: [{path: partner-ca.pem}]
apis:
  - {id: m, path: m, subscriptionRequired: false, policy: mtls.xml, operations: [{id: get, method: GET, urlTemplate: "/"}]}
`)
	url := "https://" + strings.Replace(addr, "127.0.0.1", "localhost", 1) + "/m/"
	call := func(certs ...tls.Certificate) (int, string) {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverPool, Certificates: certs}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call(ca.Client(t, "partner-app")); code != 200 || body != "CN=partner-app" {
		t.Errorf("trusted certificate: %d %q", code, body)
	}
	if code, _ := call(); code != 401 {
		t.Errorf("no certificate: %d, want 401", code)
	}
	if code, _ := call(other.Client(t, "partner-app")); code != 401 {
		t.Errorf("certificate of another authority: %d, want 401", code)
	}
	if code, _ := call(ca.Client(t, "someone-else")); code != 401 {
		t.Errorf("other identity: %d, want 401", code)
	}
	// The same over HTTP/2, which net/http serves after httpserver's
	// handshake: the certificate reaches the policy there too.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverPool, Certificates: []tls.Certificate{ca.Client(t, "partner-app")}}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "CN=partner-app" || resp.Proto != "HTTP/2.0" {
		t.Errorf("trusted certificate over HTTP/2: %d %q %s", resp.StatusCode, b, resp.Proto)
	}
}

// TestBackendCertificateValidation: a backend whose certificate comes from
// a private authority is trusted once that authority is in caCertificates;
// a certificate naming another host is refused unless
// tls.validateCertificateName is false, which still verifies the chain.
func TestBackendCertificateValidation(t *testing.T) {
	ca, other := testcerts.NewCA(t, "Backend CA"), testcerts.NewCA(t, "Unknown CA")
	serve := func(c tls.Certificate) string {
		be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
		be.TLS = &tls.Config{Certificates: []tls.Certificate{c}}
		be.StartTLS()
		t.Cleanup(be.Close)
		return be.URL
	}
	wrongName := serve(ca.Server(t, "backend.internal"))
	wrongName2 := serve(ca.Server(t, "backend.internal")) // TLS settings are per host:port
	untrusted := serve(other.Server(t, "backend.internal"))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, map[string]string{"gateway.yaml": `
caCertificates: [{path: ` + caFile + `}]
backends:
  strict: {url: "` + wrongName + `"}
  lax: {url: "` + wrongName2 + `", tls: {validateCertificateName: false}}
  stranger: {url: "` + untrusted + `", tls: {validateCertificateName: false}}
apis:
  - id: a
    path: a
    subscriptionRequired: false
    operations:
      - {id: strict, method: GET, urlTemplate: /strict, policy: strict.xml}
      - {id: lax, method: GET, urlTemplate: /lax, policy: lax.xml}
      - {id: stranger, method: GET, urlTemplate: /stranger, policy: stranger.xml}
`,
		"strict.xml":   inbound(`<set-backend-service backend-id="strict" /><rewrite-uri template="/" />`),
		"lax.xml":      inbound(`<set-backend-service backend-id="lax" /><rewrite-uri template="/" />`),
		"stranger.xml": inbound(`<set-backend-service backend-id="stranger" /><rewrite-uri template="/" />`),
	})
	for path, want := range map[string]int{"/a/strict": 502, "/a/lax": 200, "/a/stranger": 502} {
		if resp, body := h.do("GET", path, nil, nil); resp.StatusCode != want {
			t.Errorf("%s: %d %q, want %d", path, resp.StatusCode, body, want)
		}
	}
	// The log line says why, beside APIM's message.
	for _, rec := range h.records() {
		want := map[string]string{"strict": "failed to verify certificate", "stranger": "unknown authority"}[rec.BackendId]
		if want != "" && (rec.LastErrorMessage != "Unable to connect to the remote server" || !strings.Contains(rec.LastErrorDetail, want)) {
			t.Errorf("%s: LastErrorMessage %q, LastErrorDetail %q; want the TLS error (%q)", rec.BackendId, rec.LastErrorMessage, rec.LastErrorDetail, want)
		}
	}
}
