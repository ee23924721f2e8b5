package gateway

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestBufferResponseFalseStreams: with forward-request
// buffer-response="false" each event a backend flushes reaches the client
// before the backend sends the next one (server-sent events, streamed LLM
// completions), over the cleartext server and over net/http.
func TestBufferResponseFalseStreams(t *testing.T) {
	next := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next: // the client has the event: send the next
			case <-time.After(10 * time.Second):
				return
			}
		}
	}))
	defer be.Close()
	h := start(t, map[string]string{
		"gateway.yaml": "apis:\n  - {id: s, path: s, serviceUrl: \"" + be.URL + "\", subscriptionRequired: false, policy: stream.xml, operations: [{id: get, method: GET, urlTemplate: /}]}\n",
		"stream.xml":   `<policies><inbound><base/></inbound><backend><forward-request buffer-response="false" /></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	for name, base := range h.servers() {
		resp, err := http.Get(base + "/s/")
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		for i := range 3 {
			got := make(chan string, 1)
			go func() {
				line, _ := br.ReadString('\n')
				br.ReadString('\n') // the blank line ending the event
				got <- line
			}()
			select {
			case line := <-got:
				if line != fmt.Sprintf("data: %d\n", i) {
					t.Fatalf("%s: event %d: %q", name, i, line)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: event %d did not arrive while the backend waited: the response was buffered", name, i)
			}
			next <- struct{}{}
		}
		resp.Body.Close()
	}
}
