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
	network  string
	least    bool
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
	fs.BoolVar(&o.node, "node", true, "Node http servers as the backends (false: Go servers on TCP, in this process)")
	fs.StringVar(&o.network, "net", "unix", "how the proxy reaches the Node backends: unix (a socket file each, as eco's preload does) or tcp (a loopback port each)")
	fs.BoolVar(&o.least, "least", true, "also measure, in the same rounds, the least Go relay (io.Copy both ways): how far a relay in the data path can go")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.network != "unix" && o.network != "tcp" {
		return fmt.Errorf("-net %q: want unix or tcp", o.network)
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
			// A Node http server on a unix socket: what an app behind eco's preload is; or on a
			// loopback port (-net tcp), whose number it writes into a file once it listens.
			path := filepath.Join(dir, fmt.Sprintf("b%d.sock", i))
			listen := fmt.Sprintf("%q", path)
			if o.network == "tcp" {
				listen = fmt.Sprintf("0, '127.0.0.1', function () { require('fs').writeFileSync(%q, String(this.address().port)); }", path+".port")
			}
			// As the tutorials' /read-content: the file is read for each request.
			content := filepath.Join(dir, "content.txt")
			if err := os.WriteFile(content, body, 0o644); err != nil {
				return err
			}
			src := fmt.Sprintf("const fs = require('fs'); require('http').createServer((q, s) => fs.readFile(%q, (e, b) => s.end(b))).listen(%s);", content, listen)
			cmd := exec.CommandContext(ctx, "node", "-e", src)
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("node backend: %w", err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
			}()
			addr := "unix:" + path
			for deadline := time.Now().Add(10 * time.Second); ; {
				network, address := "unix", path
				if o.network == "tcp" {
					port, _ := os.ReadFile(path + ".port")
					network, address = "tcp", "127.0.0.1:"+string(port)
				}
				c, err := net.Dial(network, address)
				if err == nil {
					c.Close()
					if network == "tcp" {
						addr = address
					}
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("node backend does not listen on %s: %w", path, err)
				}
				if err := benchkit.Sleep(ctx, 20*time.Millisecond); err != nil {
					return err
				}
			}
			backends = append(backends, addr)
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

	least := ""
	if o.least {
		if least, err = buildLeast(ctx, dir); err != nil {
			return err
		}
	}
	var rps, cpu, wakes, lrps, lcpu, lwakes []float64
	for i := range o.rounds {
		profile := ""
		if i == o.rounds-1 {
			profile = o.profile
		}
		r, err := round(ctx, o, bin, dir, backends, profile)
		if err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
		fmt.Fprintf(stderr, "round %d: %.0f requests/s, %.1f µs of proxy CPU and %.2f context switches per request\n", i+1, r.rps, r.cpu, r.switches)
		rps, cpu, wakes = append(rps, r.rps), append(cpu, r.cpu), append(wakes, r.switches)
		if least == "" {
			continue
		}
		if r, err = leastRound(ctx, o, least, backends); err != nil {
			return fmt.Errorf("round %d, the least relay: %w", i+1, err)
		}
		fmt.Fprintf(stderr, "round %d: the least relay: %.0f requests/s, %.1f µs of CPU and %.2f context switches per request\n", i+1, r.rps, r.cpu, r.switches)
		lrps, lcpu, lwakes = append(lrps, r.rps), append(lcpu, r.cpu), append(lwakes, r.switches)
	}
	kind := "Go, TCP"
	if o.node {
		kind = "Node, " + map[string]string{"unix": "unix socket", "tcp": "TCP"}[o.network]
	}
	fmt.Fprintf(stdout, "| eco | backends | mode | proxy env | connections | requests/s | proxy CPU per request | context switches per request |\n|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(stdout, "| %s | %s | %s | %s | %d | %.0f | %.1f µs | %.2f |\n", what, kind, o.mode, orNone(o.env), o.conns, benchkit.Median(rps), benchkit.Median(cpu), benchkit.Median(wakes))
	if least != "" {
		fmt.Fprintf(stdout, "| the least Go relay (io.Copy both ways, a connection pinned to one backend, no HTTP) | %s | - | - | %d | %.0f | %.1f µs | %.2f |\n", kind, o.conns, benchkit.Median(lrps), benchkit.Median(lcpu), benchkit.Median(lwakes))
	}
	fmt.Fprintf(stdout, "\nMedians of %d rounds of %s (rounds: %s requests/s; %s µs; %s switches); load average %s.\n", o.rounds, o.duration, floats(rps, "%.0f"), floats(cpu, "%.1f"), floats(wakes, "%.2f"), loadAvg())
	if least != "" {
		fmt.Fprintf(stdout, "The least relay, in the same rounds, each right after eco's: %s requests/s; %s µs; %s switches. eco's proxy per request / the least relay's: %.2f.\n",
			floats(lrps, "%.0f"), floats(lcpu, "%.1f"), floats(lwakes, "%.2f"), benchkit.Median(cpu)/benchkit.Median(lcpu))
	}
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

// result is one round's measure.
type result struct {
	rps      float64 // answers per second
	cpu      float64 // the proxy process's CPU time per answer, µs
	switches float64 // the proxy's threads' context switches per answer: its wake-ups
}

// round starts a proxy process, loads it and returns what it measured.
func round(ctx context.Context, o options, bin, dir string, backends []string, profile string) (result, error) {
	addr, f, err := listenFile()
	if err != nil {
		return result{}, err
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
		return result{}, err
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
			return result{}, fmt.Errorf("the proxy process does not answer: %w", err)
		}
		if err := benchkit.Sleep(ctx, 20*time.Millisecond); err != nil {
			return result{}, err
		}
	}
	defer cl.Close()
	for i, b := range backends {
		if err := cl.Add(ctx, fmt.Sprintf("b%d", i), b); err != nil {
			return result{}, err
		}
	}
	return measure(ctx, o, addr, cmd.Process.Pid)
}

// listenFile opens a listener on a free loopback port for a relay process to inherit: its
// address and its file. The caller closes the file once the process has it.
func listenFile() (string, *os.File, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return "", nil, err
	}
	return ln.Addr().String(), f, nil
}

// measure loads addr, where process pid relays, for a warm-up and then for a measured round,
// and returns what pid spent per answer.
func measure(ctx context.Context, o options, addr string, pid int) (result, error) {
	if _, err := load(ctx, addr, o.conns, o.warmup); err != nil {
		return result{}, err
	}
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return result{}, err
	}
	sw0 := switches(pid)
	t0 := time.Now()
	n, err := load(ctx, addr, o.conns, o.duration)
	elapsed := time.Since(t0)
	cpu1, err2 := cpuTicks(pid)
	sw1 := switches(pid)
	if err = errors.Join(err, err2); err != nil {
		return result{}, err
	}
	const hz = 100 // USER_HZ: the clock ticks of /proc/PID/stat on Linux
	cpuSec := float64(cpu1-cpu0) / hz
	return result{rps: float64(n) / elapsed.Seconds(), cpu: cpuSec * 1e6 / float64(n), switches: float64(sw1-sw0) / float64(n)}, nil
}

// leastSrc is the least relay a Go program can be: it takes each connection on the listener
// it inherits as fd 3 to the next backend of its arguments in turn, and copies bytes both ways
// with io.Copy until either side ends. It reads no HTTP: a connection stays with one backend,
// nothing is replayed, nothing is balanced per request. It runs on one P, as eco's proxy does.
const leastSrc = `package main

import (
	"io"
	"net"
	"os"
	"runtime"
	"strings"
)

func main() {
	runtime.GOMAXPROCS(1)
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		panic(err)
	}
	backends := os.Args[1:]
	for i := 0; ; i++ {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		network, addr := "tcp", backends[i%len(backends)]
		if p, ok := strings.CutPrefix(addr, "unix:"); ok {
			network, addr = "unix", p
		}
		go func() {
			defer c.Close()
			b, err := net.Dial(network, addr)
			if err != nil {
				return
			}
			defer b.Close()
			go func() { io.Copy(b, c); b.Close() }()
			io.Copy(c, b)
		}()
	}
}
`

// buildLeast builds leastSrc in dir.
func buildLeast(ctx context.Context, dir string) (string, error) {
	src := filepath.Join(dir, "least.go")
	if err := os.WriteFile(src, []byte(leastSrc), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "least")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the least relay: %w: %s", err, out)
	}
	return bin, nil
}

// leastRound measures the least relay (leastSrc) as round measures eco's proxy.
func leastRound(ctx context.Context, o options, bin string, backends []string) (result, error) {
	addr, f, err := listenFile()
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, bin, backends...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	return measure(ctx, o, addr, cmd.Process.Pid)
}

// switches is the context switches of pid's threads so far, voluntary or not: a thread that
// sleeps in epoll_wait and is woken counts one.
func switches(pid int) int64 {
	var n int64
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += x
			}
		}
	}
	return n
}

// loadAvg is the first three fields of /proc/loadavg: the machine's load while measuring.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
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
