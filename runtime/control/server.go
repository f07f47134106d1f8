package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxBodyBytes bounds a request body read by DecodeJSON.
const maxBodyBytes = 16 << 20

// errorBody is the body of every error response.
type errorBody struct {
	Error string `json:"error"`
}

// WriteJSON writes v as a JSON response with status. When v cannot be encoded it writes a 500
// error instead, so a client never gets a half-written body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: fmt.Sprintf("encode response: %v", err)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteError writes {"error": err's message} with status; a nil err writes the status text.
func WriteError(w http.ResponseWriter, status int, err error) {
	msg := http.StatusText(status)
	if err != nil {
		msg = err.Error()
	}
	WriteJSON(w, status, errorBody{Error: msg})
}

// DecodeJSON decodes r's body into v strictly: one JSON value, no unknown fields, at most 16 MiB.
// The content type is not checked, so plain `curl -d` works.
func DecodeJSON(r *http.Request, v any) error {
	return decodeJSON(r, v, maxBodyBytes)
}

// decodeJSON is DecodeJSON with a limit of limit bytes.
func decodeJSON(r *http.Request, v any, limit int64) error {
	if r.Body == nil {
		return errors.New("decode request: empty body")
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		if err == nil {
			return errors.New("decode request: more than one JSON value in the body")
		}
		return decodeError(err)
	}
	return nil
}

func decodeError(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		if tooLarge.Limit%(1<<20) == 0 {
			return fmt.Errorf("decode request: body larger than %d MiB", tooLarge.Limit>>20)
		}
		return fmt.Errorf("decode request: body larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return errors.New("decode request: empty body")
	}
	return fmt.Errorf("decode request: %w", err)
}
