package backend_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/prometheus/client_golang/prometheus"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()

	m, err := backend.NewManager(backend.Options{
		MaxConnsPerHost: 64,
		SNAT:            backend.SNAT{Ports: 1024, Reclaim: 4 * time.Minute},
	}, prometheus.NewRegistry(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	client := &http.Client{Transport: m}
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err) // a *backend.Error: Reason and Message as APIM words them
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	st := m.Stats()[0]
	fmt.Printf("opened %d connection(s), ports held %d of %d\n", st.Opened, st.Ports.Held, st.Ports.Budget)
	// Output: opened 1 connection(s), ports held 1 of 1024
}
