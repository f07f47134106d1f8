package runtime

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the apps the daemon runs: with ECO_TEST_HELPER set, TestMain runs
// the named behavior instead of the tests.
//
//	serve        exits with code 3 at once while the file $CRASH_IF exists; otherwise
//	             records its environment in $OUT/<pid>.env, says ready (over IPC when
//	             READY=ipc, after READY_DELAY_MS; with READY=1 on NOTIFY_SOCKET when READY=notify), records IPC
//	             messages in $OUT/<pid>.msgs, and runs until SIGINT or SIGTERM.
//	crash        writes $OUT/<pid>.crashed and exits with code 3.
//	orphan       like serve, plus a grandchild that calls setsid and sleeps; its pid goes
//	             to $OUT/<pid>.orphan.
//	sleep        sleeps until killed (the orphan's grandchild).
//	stubborn     records its environment like serve, ignores SIGINT and SIGTERM, and sleeps
//	             until killed.
//	grow         like serve, and allocates 8 MiB every 20ms up to 512 MiB.
//	flood        writes LINES numbered lines ("<tag> <stream> <n> <padding to WIDTH>") to stdout and
//	             stderr as fast as it can (TAG, default its instance), then a line of LONG bytes
//	             to stderr, then PARTIAL to stdout with no newline, then exits with EXIT.
//	chatter      writes "chatter <pid> <n>" to stdout every 10ms until SIGINT or SIGTERM.
//	threads      leaves itself idle threads, trims them and prints the counts (trim_test.go).
//	proxyctl     acts as a daemon controlling a proxy process (proxyproc_test.go).
//	ctlpeer      says hello on a proxy process's control socket $SOCK and prints the outcome.
//
// With LISTEN_FDS=1, serve also answers HTTP on fd 3 with its pid (not while it holds, see
// holdsAccept; with GRACEFUL set it finishes its requests on the stop signal); behind eco's proxy
// (ECO_BACKEND_PORT set), on 127.0.0.1:$PORT, unless NO_LISTEN is set. The binary is the
// socket-activation shim too, when its first argument is ShimArg, and a proxy process when it
// is ProxyArg.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ShimArg {
		fmt.Fprintln(os.Stderr, RunShim(os.Args[2:]))
		os.Exit(127)
	}
	if len(os.Args) > 1 && os.Args[1] == ProxyArg {
		if err := RunProxyProcess(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if h := os.Getenv("ECO_TEST_HELPER"); h != "" {
		os.Exit(runHelper(h))
	}
	os.Exit(m.Run())
}

func runHelper(name string) int {
	out := os.Getenv("OUT")
	switch name {
	case "crash":
		_ = os.WriteFile(filepath.Join(out, fmt.Sprintf("%d.crashed", os.Getpid())), nil, 0o644)
		return 3
	case "sleep":
		select {}
	case "stubborn":
		signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
		_ = os.WriteFile(filepath.Join(out, fmt.Sprintf("%d.env", os.Getpid())), []byte(strings.Join(os.Environ(), "\n")+"\n"), 0o644)
		select {}
	case "flood":
		return flood()
	case "health", "job":
		return healthHelper(name)
	case "proxyctl":
		return proxyController()
	case "threads":
		return threadsHelper()
	case "ctlpeer":
		return ctlPeer()
	case "chatter":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		for n := 0; ; n++ {
			fmt.Printf("chatter %d %d\n", os.Getpid(), n)
			select {
			case <-sigs:
				return 0
			case <-time.After(10 * time.Millisecond):
			}
		}
	case "serve", "orphan", "grow":
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", name)
		return 2
	}
	if f := os.Getenv("CRASH_IF"); f != "" {
		if _, err := os.Stat(f); err == nil {
			return 3
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	pid := os.Getpid()
	env := os.Environ()
	sort.Strings(env)
	_ = os.WriteFile(filepath.Join(out, fmt.Sprintf("%d.env", pid)), []byte(strings.Join(env, "\n")+"\n"), 0o644)

	if name == "orphan" {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "ECO_TEST_HELPER=sleep")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_ = os.WriteFile(filepath.Join(out, fmt.Sprintf("%d.orphan", pid)), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	}

	if fdStr := os.Getenv("NODE_CHANNEL_FD"); fdStr != "" {
		fd, _ := strconv.Atoi(fdStr)
		ch := os.NewFile(uintptr(fd), "ipc")
		if os.Getenv("READY") == "ipc" {
			if ms, err := strconv.Atoi(os.Getenv("READY_DELAY_MS")); err == nil {
				time.Sleep(time.Duration(ms) * time.Millisecond)
			}
			fmt.Fprintln(ch, `"ready"`)
		}
		go func() {
			sc := bufio.NewScanner(ch)
			for sc.Scan() {
				f, err := os.OpenFile(filepath.Join(out, fmt.Sprintf("%d.msgs", pid)), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
				if err == nil {
					fmt.Fprintln(f, sc.Text())
					f.Close()
				}
			}
		}()
	}
	var graceful func() // with GRACEFUL set: shuts down gracefully on the stop signal
	if os.Getenv("LISTEN_FDS") == "1" && !holdsAccept() {
		// Socket activation: serve HTTP on fd 3, answering with the pid.
		ln, err := net.FileListener(os.NewFile(3, "listener"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if os.Getenv("GRACEFUL") != "" {
			graceful = serveGracefully(ln, pid)
		} else {
			go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%d\n", pid)
			}))
		}
	}
	if port := os.Getenv("ECO_BACKEND_PORT"); port != "" && os.Getenv("NO_LISTEN") == "" {
		// Behind eco's proxy: serve HTTP on 127.0.0.1:PORT, answering with the pid.
		ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%d\n", pid)
		}))
	}
	if os.Getenv("READY") == "notify" {
		conn, err := net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET"))
		if err == nil {
			_, _ = conn.Write([]byte("STATUS=warming up\nREADY=1\n"))
			conn.Close()
		}
	}
	if name == "grow" {
		// Allocate and touch 8 MiB every 20ms, up to 512 MiB.
		go func() {
			var keep [][]byte
			for len(keep) < 64 {
				b := make([]byte, 8<<20)
				for i := range b {
					if i%4096 == 0 {
						b[i] = 1
					}
				}
				keep = append(keep, b)
				time.Sleep(20 * time.Millisecond)
			}
			select {}
		}()
	}
	fmt.Println("serving", pid)
	<-sigs
	fmt.Println("stopping", pid)
	if graceful != nil {
		graceful() // stop accepting, answer every connection accepted, then exit
	}
	return 0
}

// flood is the helper of the same name.
func flood() int {
	n, _ := strconv.Atoi(os.Getenv("LINES"))
	width, _ := strconv.Atoi(os.Getenv("WIDTH"))
	tag := os.Getenv("TAG")
	if tag == "" {
		tag = "i" + os.Getenv("NODE_APP_INSTANCE")
	}
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	errw := bufio.NewWriterSize(os.Stderr, 64<<10)
	line := func(w *bufio.Writer, stream string, i int) {
		s := fmt.Sprintf("%s %s %d ", tag, stream, i)
		// Line lengths vary, up to width, so that lines cross pipe and block boundaries.
		pad := width - len(s)
		if width > 200 {
			pad = (i*7919)%width - len(s)
		}
		w.WriteString(s + strings.Repeat("x", max(pad, 0)) + "\n")
	}
	for i := range n {
		line(out, "out", i)
		line(errw, "err", i)
	}
	out.Flush()
	if long, _ := strconv.Atoi(os.Getenv("LONG")); long > 0 {
		errw.WriteString(strings.Repeat("L", long) + "\n")
	}
	errw.Flush()
	if p := os.Getenv("PARTIAL"); p != "" {
		os.Stdout.WriteString(p)
	}
	code, _ := strconv.Atoi(os.Getenv("EXIT"))
	return code
}
