package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/proxy"
)

func main() { benchkit.Main("proxycpu", run) }

type options struct {
	eco      string
	conns    int
	duration time.Duration
	warmup   time.Duration
	rounds   int
	mode     string
	env      string
	profile  string
	node     bool
}

// body is what the backends answer: the size of the cluster bench's /read-content.
var body = bytes.Repeat([]byte("x"), 81)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("proxycpu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.eco, "eco", "", "a prebuilt eco binary (default: build ./cmd/eco)")
	fs.IntVar(&o.conns, "c", 50, "kept-alive connections")
	fs.DurationVar(&o.duration, "d", 5*time.Second, "length of each measured round")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each round")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; the report gives medians")
	fs.StringVar(&o.mode, "mode", "round_robin", "balance mode")
	fs.StringVar(&o.env, "env", "", "extra environment of the proxy process, comma-separated K=V")
	fs.StringVar(&o.profile, "cpuprofile", "", "write the proxy process's CPU profile of the last round here")
	fs.BoolVar(&o.node, "node", true, "Node http servers on unix sockets as the backends (false: Go servers on TCP, in this process)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ecopx")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := o.eco
	what := bin
	if bin == "" {
		root, err := benchkit.RepoRoot()
		if err != nil {
			return err
		}
		bin = filepath.Join(dir, "eco")
		if what, err = benchkit.BuildEco(ctx, root, bin); err != nil {
			return err
		}
	}
	var backends []string
	for i := range 2 {
		if o.node {
			// A Node http server on a unix socket: what an app behind eco's preload is.
			path := filepath.Join(dir, fmt.Sprintf("b%d.sock", i))
			// As the tutorials' /read-content: the file is read for each request.
			content := filepath.Join(dir, "content.txt")
			if err := os.WriteFile(content, body, 0o644); err != nil {
				return err
			}
			src := fmt.Sprintf("const fs = require('fs'); require('http').createServer((q, s) => fs.readFile(%q, (e, b) => s.end(b))).listen(%q);", content, path)
			cmd := exec.CommandContext(ctx, "node", "-e", src)
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("node backend: %w", err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
			}()
			for deadline := time.Now().Add(10 * time.Second); ; {
				c, err := net.Dial("unix", path)
				if err == nil {
					c.Close()
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("node backend does not listen on %s: %w", path, err)
				}
				if err := benchkit.Sleep(ctx, 20*time.Millisecond); err != nil {
					return err
				}
			}
			backends = append(backends, "unix:"+path)
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })}
		go srv.Serve(ln)
		defer srv.Close()
		backends = append(backends, ln.Addr().String())
	}

	var rps, cpu []float64
	for i := range o.rounds {
		profile := ""
		if i == o.rounds-1 {
			profile = o.profile
		}
		r, c, err := round(ctx, o, bin, dir, backends, profile)
		if err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
		fmt.Fprintf(stderr, "round %d: %.0f requests/s, %.1f µs of proxy CPU per request\n", i+1, r, c)
		rps, cpu = append(rps, r), append(cpu, c)
	}
	kind := "Go, TCP"
	if o.node {
		kind = "Node, unix socket"
	}
	fmt.Fprintf(stdout, "| eco | backends | mode | proxy env | connections | requests/s | proxy CPU per request |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(stdout, "| %s | %s | %s | %s | %d | %.0f | %.1f µs |\n", what, kind, o.mode, orNone(o.env), o.conns, benchkit.Median(rps), benchkit.Median(cpu))
	fmt.Fprintf(stdout, "\nMedians of %d rounds of %s (rounds: %s requests/s; %s µs).\n", o.rounds, o.duration, floats(rps, "%.0f"), floats(cpu, "%.1f"))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func floats(xs []float64, f string) string {
	var out []string
	for _, x := range xs {
		out = append(out, fmt.Sprintf(f, x))
	}
	return strings.Join(out, ", ")
}

// round starts a proxy process, loads it and returns the requests per second and the proxy's
// CPU µs per request.
func round(ctx context.Context, o options, bin, dir string, backends []string, profile string) (float64, float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sock := filepath.Join(dir, "px.sock")
	cmd := exec.CommandContext(ctx, bin, runtime.ProxyArg, "--socket", sock, "--mode", o.mode, "--app", "bench")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = os.Environ()
	if o.env != "" {
		cmd.Env = append(cmd.Env, strings.Split(o.env, ",")...)
	}
	if profile != "" {
		cmd.Env = append(cmd.Env, runtime.EnvProxyCPUProfile+"="+profile)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	var cl *proxy.Client
	for deadline := time.Now().Add(10 * time.Second); ; {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		cl, _, err = proxy.Dial(dctx, sock, nil)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the proxy process does not answer: %w", err)
		}
		if err := benchkit.Sleep(ctx, 20*time.Millisecond); err != nil {
			return 0, 0, err
		}
	}
	defer cl.Close()
	for i, b := range backends {
		if err := cl.Add(ctx, fmt.Sprintf("b%d", i), b); err != nil {
			return 0, 0, err
		}
	}
	addr := ln.Addr().String()
	if _, err := load(ctx, addr, o.conns, o.warmup); err != nil {
		return 0, 0, err
	}
	cpu0, err := cpuTicks(cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	n, err := load(ctx, addr, o.conns, o.duration)
	elapsed := time.Since(t0)
	cpu1, err2 := cpuTicks(cmd.Process.Pid)
	if err = errors.Join(err, err2); err != nil {
		return 0, 0, err
	}
	const hz = 100 // USER_HZ: the clock ticks of /proc/PID/stat on Linux
	cpuSec := float64(cpu1-cpu0) / hz
	return float64(n) / elapsed.Seconds(), cpuSec * 1e6 / float64(n), nil
}

// cpuTicks is the user+system time of pid, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := benchkit.StatFields(b)
	if len(f) < 13 { // f[0] is field 3: utime is field 14, stime 15
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + s, errors.Join(err1, err2)
}

// load runs conns kept-alive connections, each sending GET / and reading the answer in a loop,
// for d, and returns the answers read. Any failure ends it with an error.
func load(ctx context.Context, addr string, conns int, d time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, conns)
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	for i := range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			go func() {
				<-ctx.Done()
				c.SetDeadline(time.Unix(1, 0))
			}()
			r := bufio.NewReader(c)
			for ctx.Err() == nil {
				if _, err := c.Write(req); err != nil {
					break
				}
				if err := readAnswer(r); err != nil {
					if ctx.Err() == nil {
						errs[i] = err
					}
					break
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), errors.Join(errs...)
}

// readAnswer reads one response with a Content-Length body.
func readAnswer(r *bufio.Reader) error {
	size := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "content-length") {
			size, _ = strconv.Atoi(strings.TrimSpace(string(v)))
		}
	}
	if size < 0 {
		return errors.New("an answer without Content-Length")
	}
	_, err := r.Discard(size)
	return err
}
