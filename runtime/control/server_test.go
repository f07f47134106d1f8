package control

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteJSON(t *testing.T) {
	t.Run("value", func(t *testing.T) {
		w := httptest.NewRecorder()
		WriteJSON(w, http.StatusAccepted, map[string]int{"pid": 7})
		if w.Code != http.StatusAccepted || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != "{\"pid\":7}\n" {
			t.Errorf("got %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	})
	t.Run("unencodable value", func(t *testing.T) {
		w := httptest.NewRecorder()
		WriteJSON(w, http.StatusOK, math.Inf(1))
		var body errorBody
		if w.Code != http.StatusInternalServerError || json.Unmarshal(w.Body.Bytes(), &body) != nil || !strings.HasPrefix(body.Error, "encode response: ") {
			t.Errorf("got %d %q, want a 500 error body", w.Code, w.Body)
		}
	})
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, http.StatusNotFound, errors.New(`no app named "x"`))
	if w.Code != http.StatusNotFound || w.Body.String() != "{\"error\":\"no app named \\\"x\\\"\"}\n" {
		t.Errorf("got %d %q", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	WriteError(w, http.StatusTeapot, nil)
	if w.Body.String() != "{\"error\":\"I'm a teapot\"}\n" {
		t.Errorf("nil error: got %q", w.Body)
	}
}

func TestDecodeJSON_Limit(t *testing.T) {
	body := `{"name":"` + strings.Repeat("x", 100) + `"}`
	var v struct{ Name string }
	err := decodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(body)), &v, 64)
	if err == nil || err.Error() != "decode request: body larger than 64 bytes" {
		t.Errorf("err = %v, want the 64-byte limit", err)
	}
	if err := decodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(body)), &v, int64(len(body))); err != nil {
		t.Errorf("a body of exactly the limit: %v", err)
	}
	err = decodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(body)), &v, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	err = decodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(body+strings.Repeat(" ", 1<<20))), &v, 1<<20)
	if err == nil || err.Error() != "decode request: body larger than 1 MiB" {
		t.Errorf("err = %v, want the 1 MiB limit", err)
	}
}

func TestDecodeJSON(t *testing.T) {
	type req struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	tests := []struct {
		name, body string
		want       req
		wantErr    string // prefix
	}{
		{name: "ok", body: `{"name":"api","n":2}`, want: req{Name: "api", N: 2}},
		{name: "trailing space", body: "{\"name\":\"api\"}\n\n", want: req{Name: "api"}},
		{name: "unknown field", body: `{"name":"api","nn":2}`, wantErr: `decode request: json: unknown field "nn"`},
		{name: "two values", body: `{"name":"a"} {"name":"b"}`, wantErr: "decode request: more than one JSON value in the body"},
		{name: "trailing garbage", body: `{"name":"a"} x`, wantErr: "decode request: invalid character 'x'"},
		{name: "empty", body: "", wantErr: "decode request: empty body"},
		{name: "truncated", body: `{"name":`, wantErr: "decode request: unexpected EOF"},
		{name: "wrong type", body: `{"n":"two"}`, wantErr: "decode request: json: cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/apply", strings.NewReader(tt.body))
			var got req
			err := DecodeJSON(r, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q...", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
