package benchkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestFailureKind(t *testing.T) {
	for err, want := range map[error]string{
		&StatusError{Code: 502}:                               "status 502",
		fmt.Errorf("dial: %w", syscall.ECONNREFUSED):          "refused",
		fmt.Errorf("read: %w", syscall.ECONNRESET):            "reset",
		fmt.Errorf("get: %w", context.DeadlineExceeded):       "timeout",
		errors.New("something else"):                          "other",
		&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}: "timeout",
	} {
		if got := FailureKind(err); got != want {
			t.Errorf("FailureKind(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestLoadResult_Merge(t *testing.T) {
	t0 := time.Unix(100, 0)
	var a, b LoadResult
	a.Add(t0, nil)
	a.Add(t0.Add(time.Second), syscall.ECONNREFUSED)
	b.Add(t0.Add(-time.Second), &StatusError{Code: 500})
	b.Add(t0.Add(3*time.Second), syscall.ECONNREFUSED)
	a.Merge(b)
	if a.Total != 4 || a.Failed != 3 || a.Kinds["refused"] != 2 || a.Kinds["status 500"] != 1 {
		t.Errorf("merged %+v", a)
	}
	if !a.FirstFail.Equal(t0.Add(-time.Second)) || !a.LastFail.Equal(t0.Add(3*time.Second)) {
		t.Errorf("failures from %v to %v", a.FirstFail, a.LastFail)
	}
}

func TestLoad_Run(t *testing.T) {
	var hits, closes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Close {
			closes.Add(1)
		}
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()

	tests := []struct {
		name, url string
		failKind  string // "": every request succeeds
	}{
		{"ok", srv.URL + "/", ""},
		{"status", srv.URL + "/fail", "status 503"},
		{"refused", closed, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits.Store(0)
			closes.Store(0)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a bound, not a measure
			defer cancel()
			res := Load{URL: tt.url, Conns: 4, Rate: 4000, Max: 40}.Run(ctx)
			if res.Total != 40 {
				t.Fatalf("%d requests counted, want 40 (Max)", res.Total)
			}
			if tt.failKind == "" {
				if res.Failed != 0 {
					t.Errorf("%d failed: %v", res.Failed, res.Kinds)
				}
			} else if res.Failed != 40 || res.Kinds[tt.failKind] != 40 {
				t.Errorf("failed %d %v, want 40 %s", res.Failed, res.Kinds, tt.failKind)
			}
			if tt.url != closed && (closes.Load() == 0 || closes.Load() == hits.Load()) {
				t.Errorf("%d of %d requests without keep-alive; want some with and some without", closes.Load(), hits.Load())
			}
		})
	}
}

func TestEcoGet(t *testing.T) {
	home, err := os.MkdirTemp("", "ecoget")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if _, err := EcoPing(context.Background(), home, time.Second); err == nil {
		t.Fatal("EcoPing with no socket: no error")
	}
	ln, err := net.Listen("unix", filepath.Join(home, "eco.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/ping":
			fmt.Fprint(w, `{"pid": 4242, "version": "dev"}`)
		default:
			http.Error(w, `{"error":"no"}`, http.StatusNotFound)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if pid, err := EcoPing(context.Background(), home, 5*time.Second); err != nil || pid != 4242 {
		t.Errorf("EcoPing = %d, %v; want 4242", pid, err)
	}
	if err := EcoGet(context.Background(), home, "/v1/apps", 5*time.Second, nil); err == nil {
		t.Error("EcoGet of a 404: no error")
	}
}

func TestAllOurs(t *testing.T) {
	dir := t.TempDir()
	// $0 of the shell names dir; the "; :" keeps the shell from exec'ing sleep in its place.
	cmd := exec.Command("sh", "-c", "sleep 30; :", filepath.Join(dir, "x"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(AllOurs(dir), cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("AllOurs(%s) = %v, without the shell %d", dir, AllOurs(dir), cmd.Process.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := AllOurs(dir[:len(dir)-1]); slices.Contains(got, cmd.Process.Pid) {
		t.Errorf("AllOurs of a folder whose name only starts %s: %v", dir, got)
	}
	if slices.Contains(AllOurs(dir), os.Getpid()) {
		t.Error("AllOurs lists the benchmark itself")
	}
}
