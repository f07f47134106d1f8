package runtime

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// healthHelper is the test helpers of depends_on and the probes (see TestMain):
//
//	health  serves HTTP on 127.0.0.1:$PORT: "/" answers its pid; "/health" answers 500 while
//	        $OUT/fail-<instance> exists, 503 while $OUT/unready-<instance> exists or
//	        $READY_FILE is set and does not exist, else 200. On SIGINT or SIGTERM it appends
//	        "<app> stop-begin" to $OUT/order, waits STOP_DELAY_MS, appends "<app> stop-end"
//	        and exits 0.
//	job     appends "<app> start" to $OUT/order, waits until $GO_FILE exists (at once
//	        without one), then exits with $EXIT.
func healthHelper(name string) int {
	out, app, idx := os.Getenv("OUT"), os.Getenv("ECO_APP_NAME"), os.Getenv("NODE_APP_INSTANCE")
	note := func(what string) {
		f, err := os.OpenFile(filepath.Join(out, "order"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s %s\n", app, what)
			f.Close()
		}
	}
	exists := func(path string) bool { _, err := os.Stat(path); return err == nil }
	if name == "job" {
		note("start")
		for goFile := os.Getenv("GO_FILE"); goFile != "" && !exists(goFile); {
			time.Sleep(10 * time.Millisecond)
		}
		code, _ := strconv.Atoi(os.Getenv("EXIT"))
		return code
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	note("start")
	pid := os.Getpid()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			fmt.Fprintf(w, "%d\n", pid)
			return
		}
		ready := os.Getenv("READY_FILE")
		switch {
		case exists(filepath.Join(out, "fail-"+idx)):
			w.WriteHeader(http.StatusInternalServerError)
		case exists(filepath.Join(out, "unready-"+idx)), ready != "" && !exists(ready):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	<-sigs
	note("stop-begin")
	if ms, err := strconv.Atoi(os.Getenv("STOP_DELAY_MS")); err == nil {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	note("stop-end")
	return 0
}
