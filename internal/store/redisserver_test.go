package store

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// redisServer is a redis-server process started by a test on a loopback
// port, with persistence off, in a temporary directory.
type redisServer struct {
	addr string
	port int
	dir  string
	cmd  *exec.Cmd
	wait chan struct{}
}

// redisAddr returns the address of a Redis for the test: APIMGW_TEST_REDIS
// when set, otherwise a redis-server started for this test. It skips the
// test only when neither exists.
func redisAddr(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv("APIMGW_TEST_REDIS"); addr != "" {
		return addr
	}
	return startRedis(t).addr
}

// startRedis starts a redis-server owned by the test (needed by tests that
// kill and restart it). It skips the test when redis-server is not on PATH.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not found on PATH and APIMGW_TEST_REDIS unset: install redis-server (apt-get install redis-server) to run the Redis tests")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port), port: port, dir: t.TempDir()}
	s.start(t)
	t.Cleanup(s.kill)
	return s
}

func (s *redisServer) start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command("redis-server",
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	s.wait = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(s.cmd, s.wait)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := pingRaw(s.addr)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.kill()
			t.Fatalf("redis-server on %s did not answer: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pingRaw sends PING over a plain connection (the go-redis client would log
// every refused dial while the server starts).
func pingRaw(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "+PONG\r\n" {
		return fmt.Errorf("unexpected answer %q", buf)
	}
	return nil
}

// kill stops the server and waits for it to exit.
func (s *redisServer) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.wait
	s.cmd = nil
}

// uniqueKey returns a key no other test run uses, so tests can share an
// external Redis.
func uniqueKey(t *testing.T, name string) string {
	return fmt.Sprintf("%s/%s/%d", t.Name(), name, time.Now().UnixNano())
}
