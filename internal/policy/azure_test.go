package policy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/store"
)

func TestTokenLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"usage":{"prompt_tokens":40,"completion_tokens":20,"total_tokens":60}}`)
	}))
	defer srv.Close()
	cases := []struct {
		name   string
		policy string
		body   string
		// want is the status of each successive request.
		want        []int
		wantMessage string
		wantHeader  [2]string
	}{
		{
			name:        "tokens per minute counts reported usage",
			policy:      `<llm-token-limit counter-key="@(context.Request.IpAddress)" tokens-per-minute="100" estimate-prompt-tokens="false" remaining-tokens-header-name="x-remaining" tokens-consumed-header-name="x-consumed"/>`,
			want:        []int{200, 200, 429},
			wantMessage: "Token limit is exceeded. Try again in",
			wantHeader:  [2]string{"x-consumed", "60"},
		},
		{
			name:   "estimated prompt larger than the limit is refused at once",
			policy: `<azure-openai-token-limit counter-key="k" tokens-per-minute="10" estimate-prompt-tokens="true"/>`,
			body:   strings.Repeat("word ", 20),
			want:   []int{429},
		},
		{
			name: "quota from expressions",
			policy: `<set-variable name="tokens" value="@(100L)"/>
				<llm-token-limit counter-key="k" token-quota="@((long)context.Variables[&quot;tokens&quot;])" token-quota-period="Hourly" estimate-prompt-tokens="false" remaining-quota-tokens-variable-name="left"/>`,
			want:        []int{200, 200, 403},
			wantMessage: "Token quota is exceeded. Try again in ",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem, err := store.NewMemory(store.MemoryConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer mem.Close()
			p := testPipeline(t, wrap(tc.policy), nil)
			for i, want := range tc.want {
				env := testEnv(t)
				env.Services.Store = mem
				st := newRequestState(t, env, "POST", "http://gw.test/api/chat", nil, tc.body)
				withBackend(t, st, srv)
				body := run(t, p, st)
				if st.X.Response.StatusCode != want {
					t.Fatalf("request %d: status %d, want %d (body %s, errors %v)", i, st.X.Response.StatusCode, want, body, st.Errors)
				}
				if want != 200 && tc.wantMessage != "" && !strings.Contains(body, tc.wantMessage) {
					t.Errorf("request %d: body %s, want message %q", i, body, tc.wantMessage)
				}
				if want == 200 && tc.wantHeader[0] != "" && st.X.Response.Headers.Get(tc.wantHeader[0]) != tc.wantHeader[1] {
					t.Errorf("request %d: %s = %q, want %q", i, tc.wantHeader[0], st.X.Response.Headers.Get(tc.wantHeader[0]), tc.wantHeader[1])
				}
				if want == 429 && st.X.Response.Headers.Get("Retry-After") == "" {
					t.Errorf("request %d: no Retry-After", i)
				}
			}
		})
	}
}

func TestTokenLimitCompileErrors(t *testing.T) {
	for _, tc := range []struct{ policy, want string }{
		{`<llm-token-limit counter-key="k" estimate-prompt-tokens="false"/>`, "needs tokens-per-minute"},
		{`<llm-token-limit counter-key="k" token-quota="5" estimate-prompt-tokens="false"/>`, "go together"},
		{`<llm-token-limit counter-key="k" token-quota="5" token-quota-period="Fortnightly"/>`, "token-quota-period must be"},
		{`<llm-semantic-cache-lookup/>`, "is not supported"},
	} {
		if got := compileErrors(wrap(tc.policy)); !strings.Contains(got, tc.want) {
			t.Errorf("%s: errors %q do not mention %q", tc.policy, got, tc.want)
		}
	}
}
