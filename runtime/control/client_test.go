package control

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type echoIn struct {
	Name      string   `json:"name"`
	Instances int      `json:"instances"`
	Tags      []string `json:"tags,omitempty"`
}

type echoOut struct {
	Got    echoIn `json:"got"`
	Method string `json:"method"`
	Type   string `json:"content_type"`
}

func TestClient_Do(t *testing.T) {
	ctx := context.Background()
	home := newHome(t)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/apps", func(w http.ResponseWriter, r *http.Request) {
		var in echoIn
		if err := DecodeJSON(r, &in); err != nil {
			WriteError(w, http.StatusBadRequest, err)
			return
		}
		WriteJSON(w, http.StatusCreated, echoOut{Got: in, Method: r.Method, Type: r.Header.Get("Content-Type")})
	})
	mux.HandleFunc("POST /v1/nothing", func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			WriteError(w, http.StatusBadRequest, errors.New("want no body"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/conflict", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusConflict, errors.New(`app "api" is in project "shop"`))
	})
	mux.HandleFunc("GET /v1/plain", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "plain trouble", http.StatusBadGateway)
	})
	mux.HandleFunc("GET /v1/empty-error", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /v1/extra", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"name": "api", "instances": 2, "added_later": true})
	})
	mux.HandleFunc("GET /v1/garbage", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("not json"))
	})
	mux.HandleFunc("GET /v1/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	serve(t, home, mux)
	t.Cleanup(func() { close(release) }) // runs before the server's cleanup
	c := NewClient(home)

	t.Run("JSON in and out", func(t *testing.T) {
		var out echoOut
		in := echoIn{Name: "api", Instances: 3, Tags: []string{"web"}}
		if err := c.Do(ctx, "POST", "/v1/apps", in, &out); err != nil {
			t.Fatal(err)
		}
		want := echoOut{Got: in, Method: "POST", Type: "application/json"}
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("answer (-want +got):\n%s", diff)
		}
	})

	t.Run("no body either way", func(t *testing.T) {
		if err := c.Do(ctx, "POST", "/v1/nothing", nil, nil); err != nil {
			t.Fatal(err)
		}
		out := echoOut{Method: "untouched"}
		if err := c.Do(ctx, "POST", "/v1/nothing", nil, &out); err != nil || out.Method != "untouched" {
			t.Errorf("204 with out: err %v, out %+v", err, out)
		}
	})

	t.Run("unknown answer fields are ignored", func(t *testing.T) {
		var out echoIn
		if err := c.Do(ctx, "GET", "/v1/extra", nil, &out); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(echoIn{Name: "api", Instances: 2}, out); diff != "" {
			t.Errorf("answer (-want +got):\n%s", diff)
		}
	})

	t.Run("undecodable answer", func(t *testing.T) {
		var out echoIn
		err := c.Do(ctx, "GET", "/v1/garbage", nil, &out)
		if err == nil || !strings.HasPrefix(err.Error(), "GET /v1/garbage: decode answer:") {
			t.Errorf("err = %v, want a decode error", err)
		}
	})

	apiErrors := []struct {
		name, method, path string
		in                 any
		want               APIError
	}{
		{"WriteError", "GET", "/v1/conflict", nil, APIError{Status: 409, Message: `app "api" is in project "shop"`}},
		{"strict decoding", "POST", "/v1/apps", map[string]any{"name": "api", "bogus": 1}, APIError{Status: 400, Message: `decode request: json: unknown field "bogus"`}},
		{"plain text", "GET", "/v1/plain", nil, APIError{Status: 502, Message: "plain trouble"}},
		{"no body", "GET", "/v1/empty-error", nil, APIError{Status: 503, Message: "503 Service Unavailable"}},
		{"unknown path", "GET", "/v1/nope", nil, APIError{Status: 404, Message: "404 page not found"}},
		{"wrong method", "DELETE", "/v1/apps", nil, APIError{Status: 405, Message: "Method Not Allowed"}},
	}
	for _, tt := range apiErrors {
		t.Run("APIError/"+tt.name, func(t *testing.T) {
			err := c.Do(ctx, tt.method, tt.path, tt.in, nil)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v (%T), want an *APIError", err, err)
			}
			if diff := cmp.Diff(tt.want, *apiErr); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if err.Error() != tt.want.Message {
				t.Errorf("Error() = %q, want the message", err.Error())
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		c := NewClient(home)
		c.Timeout = 50 * time.Millisecond
		err := c.Do(ctx, "GET", "/v1/slow", nil, nil)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "GET /v1/slow: ") {
			t.Errorf("err = %v, want GET /v1/slow: ... deadline exceeded", err)
		}
	})

	t.Run("path without slash", func(t *testing.T) {
		if err := c.Do(ctx, "GET", "v1/apps", nil, nil); err == nil {
			t.Error("err = nil, want an error")
		}
	})
}

func TestClient_NoDaemon(t *testing.T) {
	ctx := context.Background()
	t.Run("no socket", func(t *testing.T) {
		home := newHome(t)
		err := NewClient(home).Do(ctx, "GET", "/v1/ping", nil, nil)
		if !errors.Is(err, ErrNoDaemon) || !strings.HasPrefix(err.Error(), "no daemon running on "+home+": ") {
			t.Errorf("err = %v, want ErrNoDaemon naming the home", err)
		}
		if _, err := NewClient(home).Stream(ctx, "/v1/logs"); !errors.Is(err, ErrNoDaemon) {
			t.Errorf("Stream: err = %v, want ErrNoDaemon", err)
		}
	})
	t.Run("stale socket", func(t *testing.T) {
		home := newHome(t)
		if err := os.MkdirAll(home, 0o700); err != nil {
			t.Fatal(err)
		}
		staleSocket(t, SocketPath(home))
		err := NewClient(home).Do(ctx, "GET", "/v1/ping", nil, nil)
		if !errors.Is(err, ErrNoDaemon) {
			t.Errorf("err = %v, want ErrNoDaemon", err)
		}
	})
}

func TestClient_Stream(t *testing.T) {
	home := newHome(t)
	next := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/logs", func(w http.ResponseWriter, r *http.Request) {
		for i := range 2 {
			if i > 0 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
			io.WriteString(w, "line "+string(rune('1'+i))+"\n")
			w.(http.Flusher).Flush()
		}
		if r.URL.Query().Get("follow") == "1" {
			<-r.Context().Done()
		}
	})
	serve(t, home, mux)
	c := NewClient(home)
	c.Timeout = time.Millisecond // Stream ignores it

	t.Run("lines arrive as they are written", func(t *testing.T) {
		body, err := c.Stream(context.Background(), "/v1/logs")
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		r := bufio.NewReader(body)
		if line, err := r.ReadString('\n'); line != "line 1\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		next <- struct{}{} // only now does the handler write the second line
		if line, err := r.ReadString('\n'); line != "line 2\n" {
			t.Fatalf("second line %q, %v", line, err)
		}
		if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
			t.Errorf("after the last line: %q, %v", rest, err)
		}
	})

	t.Run("cancel ends a follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		body, err := c.Stream(ctx, "/v1/logs?follow=1")
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		r := bufio.NewReader(body)
		if line, err := r.ReadString('\n'); line != "line 1\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		next <- struct{}{}
		if line, err := r.ReadString('\n'); line != "line 2\n" {
			t.Fatalf("second line %q, %v", line, err)
		}
		cancel()
		if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
			t.Errorf("read after cancel: err = %v, want context.Canceled", err)
		}
	})

	t.Run("APIError", func(t *testing.T) {
		_, err := c.Stream(context.Background(), "/v1/nope")
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
			t.Errorf("err = %v, want a 404 APIError", err)
		}
	})
}
