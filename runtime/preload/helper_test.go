package preload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// wait bounds every wait on a condition; it is a deadline, not an expected duration.
const wait = 30 * time.Second

// nodeBin returns node's path, or skips the test when node is not installed.
func nodeBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	return bin
}

// writeScript writes the preload into a fresh directory and returns its path.
func writeScript(t *testing.T) string {
	t.Helper()
	path, err := Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// nodeProc is a node child process whose stdout is collected line by line.
type nodeProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr syncBuffer

	mu     sync.Mutex
	lines  []string
	used   []bool // lines returned by waitLine
	eof    bool   // stdout closed
	wake   chan struct{}
	exited chan struct{} // closed once Wait returned; state is set
	state  *os.ProcessState
}

// startNode runs src as app.js under node with the preload at script loaded
// through NODE_OPTIONS, env added to a clean copy of the test's environment,
// and extra as fds 3 and up. The process is killed in t.Cleanup.
func startNode(t *testing.T, script, src string, env []string, extra ...*os.File) *nodeProc {
	t.Helper()
	app := filepath.Join(t.TempDir(), "app.js")
	if err := os.WriteFile(app, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return startNodeFile(t, script, app, env, extra...)
}

// startNodeFile is startNode for an app file written by the caller.
func startNodeFile(t *testing.T, script, app string, env []string, extra ...*os.File) *nodeProc {
	t.Helper()
	bin := nodeBin(t)
	p := &nodeProc{t: t, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, app)
	p.cmd.Env = append(cleanEnv(), "NODE_OPTIONS="+NodeOptions("", script))
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.ExtraFiles = extra
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = w
	if err := p.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatal(err)
	}
	w.Close()
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.used = append(p.used, false)
			p.mu.Unlock()
			p.notify()
		}
		p.mu.Lock()
		p.eof = true
		p.mu.Unlock()
		p.notify()
	}()
	go func() {
		p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		<-scanned
	})
	return p
}

// cleanEnv is the test's environment without anything the preload or node reads.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ECO_") || strings.HasPrefix(kv, "NODE_") || strings.HasPrefix(kv, "PORT=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (p *nodeProc) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// waitLine returns the first stdout line that starts with prefix and was not
// returned before.
func (p *nodeProc) waitLine(prefix string) string {
	p.t.Helper()
	deadline := time.After(wait)
	for {
		p.mu.Lock()
		for i, line := range p.lines {
			if !p.used[i] && strings.HasPrefix(line, prefix) {
				p.used[i] = true
				p.mu.Unlock()
				return line
			}
		}
		eof := p.eof
		p.mu.Unlock()
		if eof {
			p.t.Fatalf("node ended its stdout before a line %q; stderr:\n%s", prefix, p.stderr.String())
		}
		select {
		case <-p.wake:
		case <-deadline:
			p.t.Fatalf("no line %q from node within %v; stderr:\n%s", prefix, wait, p.stderr.String())
		}
	}
}

// waitExit waits for the process to end and returns how it ended.
func (p *nodeProc) waitExit() *os.ProcessState {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.state
	case <-time.After(wait):
		p.t.Fatalf("node did not exit within %v; stderr:\n%s", wait, p.stderr.String())
		return nil
	}
}

func (p *nodeProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// wantExit checks that the process exited by itself with code.
func (p *nodeProc) wantExit(code int) {
	p.t.Helper()
	st := p.waitExit()
	if st.ExitCode() != code {
		p.t.Fatalf("node ended with %v, want exit code %d; stderr:\n%s", st, code, p.stderr.String())
	}
}

// wantSignaled checks that the process was ended by sig.
func (p *nodeProc) wantSignaled(sig syscall.Signal) {
	p.t.Helper()
	st := p.waitExit()
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != sig {
		p.t.Fatalf("node ended with %v, want death by %v; stderr:\n%s", st, sig, p.stderr.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// sharedSocket binds a loopback listener the way eco does in kernel mode and
// returns it as a file to pass as fd 3, with its port.
func sharedSocket(t *testing.T) (*os.File, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // f keeps the socket open
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().(*net.TCPAddr).Port
}

// get makes one request on a connection of its own and returns the body.
func get(port int) (string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: wait}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), nil
}

// wantPID checks that a request to port is answered by p.
func (p *nodeProc) wantPID(port int) {
	p.t.Helper()
	body, err := get(port)
	if err != nil {
		p.t.Fatalf("request to port %d: %v; stderr:\n%s", port, err, p.stderr.String())
	}
	if body != strconv.Itoa(p.cmd.Process.Pid) {
		p.t.Fatalf("request to port %d answered %q, want pid %d", port, body, p.cmd.Process.Pid)
	}
}

// rawConn is a keep-alive HTTP/1.1 client connection with no retries, so any
// request the server drops shows up as an error.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(port int) (*rawConn, error) {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(wait))
	return &rawConn{c: c, br: bufio.NewReader(c)}, nil
}

// do sends one GET and reads its response; closed reports `Connection: close`.
func (r *rawConn) do(path string) (body string, closed bool, err error) {
	if _, err := fmt.Fprintf(r.c, "GET %s HTTP/1.1\r\nHost: eco\r\n\r\n", path); err != nil {
		return "", false, fmt.Errorf("write request: %w", err)
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		return "", false, fmt.Errorf("read response: %w", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", false, fmt.Errorf("read body: %w", err)
	}
	return string(b), resp.Close, nil
}

// waitEOF waits for the server to end the connection with nothing more sent.
func (r *rawConn) waitEOF() error {
	b, err := r.br.ReadByte()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("unexpected byte %q instead of EOF", b)
}

func (r *rawConn) Close() error { return r.c.Close() }
