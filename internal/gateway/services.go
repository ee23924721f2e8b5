package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/apimgw/apimgw/internal/config"
)

// lineSink writes each message as one line; it is shared by requests.
type lineSink struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := bytes.TrimRight(p, "\r\n")
	buf := make([]byte, 0, len(msg)+1)
	buf = append(append(buf, msg...), '\n')
	if _, err := s.w.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// openLoggers opens the log-to-eventhub sinks of the loggers section.
func openLoggers(cfg *config.Config) (map[string]io.Writer, func(), error) {
	sinks := map[string]io.Writer{}
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	for id, l := range cfg.Loggers {
		switch l.Type {
		case "stdout":
			sinks[id] = &lineSink{w: os.Stdout}
		case "file":
			f, err := os.OpenFile(cfg.Path(l.Path), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("logger %q: %w", id, err)
			}
			closers = append(closers, f)
			sinks[id] = &lineSink{w: f}
		}
	}
	return sinks, closeAll, nil
}

// tokenSource is the local equivalent of an Azure managed identity: tokens
// come from a command, a file or an environment variable, cached per
// resource and client id.
type tokenSource struct {
	cfg   config.ManagedIdentity
	dir   string
	mu    sync.Mutex
	cache map[string]cachedToken
}

type cachedToken struct {
	token string
	until time.Time
}

func newTokenSource(cfg *config.Config) *tokenSource {
	if cfg.ManagedIdentity == nil {
		return nil
	}
	return &tokenSource{cfg: *cfg.ManagedIdentity, dir: cfg.Dir, cache: map[string]cachedToken{}}
}

// Token returns a token for resource (and client id, for a user-assigned identity).
func (t *tokenSource) Token(ctx context.Context, resource, clientID string) (string, error) {
	key := resource + "\x00" + clientID
	t.mu.Lock()
	if c, ok := t.cache[key]; ok && time.Now().Before(c.until) {
		t.mu.Unlock()
		return c.token, nil
	}
	t.mu.Unlock()
	var tok string
	switch {
	case t.cfg.Env != "":
		tok = os.Getenv(t.cfg.Env)
		if tok == "" {
			return "", fmt.Errorf("managedIdentity: environment variable %s is empty", t.cfg.Env)
		}
	case t.cfg.File != "":
		p := t.cfg.File
		if !strings.HasPrefix(p, "/") {
			p = t.dir + "/" + p
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("managedIdentity: %w", err)
		}
		tok = string(b)
	default:
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, t.cfg.Command[0], t.cfg.Command[1:]...)
		cmd.Dir = t.dir
		cmd.Env = append(os.Environ(), "APIMGW_RESOURCE="+resource, "APIMGW_CLIENT_ID="+clientID)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("managedIdentity command: %v: %s", err, strings.TrimSpace(stderr.String()))
		}
		tok = string(out)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("managedIdentity: empty token")
	}
	t.mu.Lock()
	t.cache[key] = cachedToken{token: tok, until: time.Now().Add(t.cfg.CacheFor.D())}
	t.mu.Unlock()
	return tok, nil
}
