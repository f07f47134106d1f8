package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunGoLoad(t *testing.T) {
	var n atomic.Int64
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if i == 300 {
			close(stop)
		}
		switch {
		case i%7 == 0:
			w.WriteHeader(http.StatusInternalServerError)
		case i%5 == 0:
			w.Header().Set("Connection", "close")
			fmt.Fprint(w, "bye")
		case i%3 == 0:
			w.(http.Flusher).Flush() // chunked
			fmt.Fprint(w, "chunk")
		default:
			fmt.Fprint(w, "hello")
		}
	}))
	defer srv.Close()
	w, err := runGoLoad(context.Background(), srv.URL+"/x", 4, time.Minute, stop, false)
	if err != nil {
		t.Fatal(err)
	}
	if w.Requests < 250 || w.Connect+w.Read+w.Write+w.Timeout != 0 {
		t.Errorf("got %+v, want about 300 requests and no socket error", w)
	}
	if w.Non2xx == 0 || w.Non2xx > w.Requests/5 {
		t.Errorf("%d non-2xx of %d, want about one in 7", w.Non2xx, w.Requests)
	}
	if w.P50 <= 0 || w.P99 < w.P50 || w.RPS <= 0 {
		t.Errorf("latency p50 %s p99 %s, %f requests/s", w.P50, w.P99, w.RPS)
	}
}

func TestRunGoLoad_Refused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	w, err := runGoLoad(context.Background(), url, 2, 50*time.Millisecond, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if w.Connect == 0 || w.Requests != 0 {
		t.Errorf("got %+v, want connect errors only", w)
	}
}
