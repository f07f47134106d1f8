package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// maxBodyBytes bounds a request body read by DecodeJSON.
const maxBodyBytes = 16 << 20

// errorBody is the body of every error response; Diagnostics come with a request that did not
// pass the checks.
type errorBody struct {
	Error       string       `json:"error"`
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
}

// Diagnostic is an hcl.Diagnostic on the wire.
type Diagnostic struct {
	Severity string `json:"severity"` // "error" or "warning"
	Summary  string `json:"summary"`
	Detail   string `json:"detail,omitempty"`
	Subject  *Range `json:"subject,omitempty"`
}

// Range is an hcl.Range on the wire.
type Range struct {
	Filename string `json:"filename"`
	Start    Pos    `json:"start"`
	End      Pos    `json:"end"`
}

// Pos is an hcl.Pos on the wire.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// EncodeDiagnostics converts diags for the wire; the result is never nil.
func EncodeDiagnostics(diags hcl.Diagnostics) []Diagnostic {
	out := make([]Diagnostic, 0, len(diags))
	for _, d := range diags {
		wd := Diagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			wd.Severity = "warning"
		}
		if r := d.Subject; r != nil {
			pos := func(p hcl.Pos) Pos { return Pos{Line: p.Line, Column: p.Column, Byte: p.Byte} }
			wd.Subject = &Range{Filename: r.Filename, Start: pos(r.Start), End: pos(r.End)}
		}
		out = append(out, wd)
	}
	return out
}

// DecodeDiagnostics converts wire diagnostics back; an unknown severity counts as an error.
func DecodeDiagnostics(in []Diagnostic) hcl.Diagnostics {
	out := make(hcl.Diagnostics, 0, len(in))
	for _, wd := range in {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: wd.Summary, Detail: wd.Detail}
		if wd.Severity == "warning" {
			d.Severity = hcl.DiagWarning
		}
		if r := wd.Subject; r != nil {
			pos := func(p Pos) hcl.Pos { return hcl.Pos{Line: p.Line, Column: p.Column, Byte: p.Byte} }
			d.Subject = &hcl.Range{Filename: r.Filename, Start: pos(r.Start), End: pos(r.End)}
		}
		out = append(out, d)
	}
	return out
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

// WriteDiagnostics writes {"error": ..., "diagnostics": [...]} with status: the data of a
// request that did not pass the checks. The error is a one-line summary, for clients that only
// read it.
func WriteDiagnostics(w http.ResponseWriter, status int, diags hcl.Diagnostics) {
	var lines []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		line := d.Summary
		if d.Detail != "" {
			line += ": " + strings.TrimSuffix(d.Detail, ".")
		}
		if d.Subject != nil {
			line = fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, line)
		}
		lines = append(lines, line)
	}
	msg := "invalid request"
	if len(lines) > 0 {
		msg += ": " + strings.Join(lines, "; ")
	}
	WriteJSON(w, status, errorBody{Error: msg, Diagnostics: EncodeDiagnostics(diags)})
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
