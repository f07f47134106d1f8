package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
	"github.com/eco-pm/eco/runtime"
)

// TestPerIndexEco: the eco-kernel-per-index setup's commands carry the daemon's switch to a
// socket per instance index, and the other setups' do not.
func TestPerIndexEco(t *testing.T) {
	e := &benchkit.Eco{CLI: benchkit.CLI{Env: []string{"ECO_HOME=/x"}}}
	s := perIndexEco(e)
	if want := runtime.EnvKernelSockets + "=per_index"; !slices.Contains(s.Env, want) {
		t.Errorf("env %v lacks %s", s.Env, want)
	}
	if len(e.Env) != 1 {
		t.Errorf("the other setups' env changed: %v", e.Env)
	}
	if !slices.Contains(allModes, modeEcoPerIndex) || modeTitle[modeEcoPerIndex] == "" {
		t.Errorf("%s is not a setup of the report", modeEcoPerIndex)
	}
}

// TestGoLoad_ConnClose: with connClose every request the load generator sends comes on a
// connection of its own.
func TestGoLoad_ConnClose(t *testing.T) {
	var conns, reqs atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		fmt.Fprint(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	w, err := runGoLoad(context.Background(), srv.URL+"/x", 2, 300*time.Millisecond, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if w.Requests < 2 { // a connect error now and then is the churn of loopback, not the point
		t.Fatalf("result %+v", w)
	}
	if c, r := conns.Load(), reqs.Load(); c < r {
		t.Errorf("%d requests on %d connections; want one connection each", r, c)
	}
}
