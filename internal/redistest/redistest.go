package redistest

import (
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process.
type Server struct {
	Addr string
	Dir  string
	args []string
	cmd  *exec.Cmd
}

// Binary finds redis-server or fails the test with what to install.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: install it (Debian: apt-get install -y redis-server) or run `make test`, which installs it when run as root")
	}
	return p
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	if p := freePort(); p != 0 {
		return p
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// freePort is FreePort, 0 when none was found.
func freePort() int {
	// Below the kernel's ephemeral range (32768 and up by default): a
	// port picked here cannot be taken, while its server is down for a
	// restart, by the source port of some client's outgoing connection
	// (the gateway redials while Redis is away). Cluster nodes get their
	// bus port from here too (--cluster-port).
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(10000+mathrand.IntN(22000)))
		if err == nil {
			port := l.Addr().(*net.TCPAddr).Port
			_ = l.Close()
			return port
		}
	}
	return 0
}

// Start starts a redis-server with persistence off unless args turn it on.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return startNode(t, func(int) []string { return args })
}

// startNode starts one redis-server for a test; args may depend on its
// port.
func startNode(t testing.TB, args func(port int) []string) *Server {
	t.Helper()
	s, err := startServer(Binary(t), t.TempDir(), args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// startServer starts one redis-server in dir, on a fresh port each time
// it has to try again (the port was taken between the probe and the
// bind, or by another process's server that answered in its place).
func startServer(bin, dir string, args func(port int) []string) (*Server, error) {
	var lastErr error
	for range 5 {
		port := freePort()
		if port == 0 {
			continue
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir}
		s.args = append([]string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--protected-mode", "no",
			"--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log"),
		}, args(port)...)
		if lastErr = s.start(bin); lastErr == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("redis-server did not start: %w", lastErr)
}

func (s *Server) start(bin string) error {
	s.cmd = exec.Command(bin, s.args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %s", lastLines(string(log), 5))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		info, err := c.Info(ctx, "server").Result()
		cancel()
		if err == nil {
			// The server that answers must be the one started here, not
			// another process's that holds the port.
			if !strings.Contains(info, "process_id:"+strconv.Itoa(s.cmd.Process.Pid)+"\r\n") {
				s.kill()
				return fmt.Errorf("another server answers on %s", s.Addr)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	return fmt.Errorf("redis-server on %s not ready in time", s.Addr)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func (s *Server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_, _ = s.cmd.Process.Wait()
	}
}

// Freeze stops the server process (SIGSTOP) until the returned function
// resumes it (SIGCONT, also at cleanup): a Redis that accepts connections
// and never answers.
func (s *Server) Freeze(t testing.TB) (resume func()) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume = func() { once.Do(func() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)
	return resume
}

// Stop kills the server process this helper started.
func (s *Server) Stop() { s.kill() }

// Restart stops the server and starts it again on the same port and
// directory (with AOF on, data survives).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.kill()
	if err := s.start(Binary(t)); err != nil {
		t.Fatal(err)
	}
}

// Client returns a go-redis client for the server, closed at cleanup.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// DBSize counts keys, for "nothing was written" assertions.
func (s *Server) DBSize(t testing.TB) int64 {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	n, err := c.DBSize(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
