package pm2

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"
)

// Format is the kind of PM2 file a Document came from.
type Format string

const (
	// JS is an ecosystem.config.js, .cjs or .mjs, evaluated with node.
	JS Format = "js"
	// JSON is a process file in JSON (PM2 reads it as a JavaScript expression, so comments work).
	JSON Format = "json"
	// YAML is a process file in YAML.
	YAML Format = "yaml"
	// Dump is the dump.pm2 that pm2 save writes: one entry per running process.
	Dump Format = "dump"
)

// Document is a PM2 file read into plain values: maps, slices, strings, bools, json.Number.
type Document struct {
	// Path is the file as named to Read.
	Path   string
	Format Format
	// Value is module.exports, or the file's content.
	Value any
	// Dropped lists values that a config file cannot carry over (JavaScript functions, symbols),
	// by their path in the file ("apps[0].env.TOKEN"), with what they were.
	Dropped []string
}

// ReadOptions say how to read a file.
type ReadOptions struct {
	// Node is the node binary; "" looks up "node" in PATH.
	Node string
	// Timeout bounds the evaluation of a JavaScript file; 0 means 10s.
	Timeout time.Duration
}

// MaxFileSize is the largest PM2 file, or evaluated module.exports, that Read accepts.
const MaxFileSize = 16 << 20

// DetectFormat says which kind of PM2 file name is, from its name alone.
func DetectFormat(name string) (Format, bool) {
	base := strings.ToLower(filepath.Base(name))
	switch ext := filepath.Ext(base); {
	case ext == ".pm2" || strings.HasPrefix(base, "dump.pm2"):
		return Dump, true
	case ext == ".js" || ext == ".cjs" || ext == ".mjs":
		return JS, true
	case ext == ".json":
		return JSON, true
	case ext == ".yaml" || ext == ".yml":
		return YAML, true
	}
	return "", false
}

// Read reads the PM2 file at path. A JavaScript file is code: it is run with node (with a
// timeout), as PM2 does, and module.exports is taken as it is after the run.
func Read(ctx context.Context, path string, opts ReadOptions) (*Document, error) {
	format, ok := DetectFormat(path)
	if !ok {
		return nil, fmt.Errorf("%s: eco import reads PM2's ecosystem.config.js (.cjs, .mjs), .json, .yaml (.yml) and dump.pm2; this name has none of those extensions", path)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%s is a folder; name the PM2 file to import", path)
	}
	if info.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes is more than a PM2 file holds (at most %d)", path, info.Size(), MaxFileSize)
	}
	doc := &Document{Path: path, Format: format}
	if format == JS {
		err = evalNode(ctx, path, "module", opts, doc)
		return doc, err
	}
	// The size was checked above, but a device (/dev/zero, a symlink to it) says 0 and never
	// ends: read no more than the bound.
	src, err := readLimited(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	switch format {
	case YAML:
		js, err := yaml.YAMLToJSON(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		doc.Value, err = decodeJSON(js)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	default: // JSON and Dump
		v, jerr := decodeJSON(src)
		if jerr == nil {
			doc.Value = v
			break
		}
		// PM2 evaluates a JSON process file as a JavaScript expression, so comments, single
		// quotes and trailing commas work there; do the same before giving up.
		var syn *json.SyntaxError
		if !errors.As(jerr, &syn) {
			return nil, fmt.Errorf("%s: %w", path, jerr)
		}
		line, col := lineCol(src, syn.Offset)
		if nerr := evalNode(ctx, path, "expr", opts, doc); nerr != nil {
			return nil, fmt.Errorf("%s:%d:%d: not JSON (%v), and not a JavaScript expression either, as PM2 would read it: %w", path, line, col, jerr, nerr)
		}
	}
	if format == JSON && looksLikeDump(doc.Value) {
		doc.Format = Dump
	}
	return doc, nil
}

// looksLikeDump reports whether v is what pm2 save writes: a list of process environments.
func looksLikeDump(v any) bool {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return false
	}
	m, ok := list[0].(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["pm_exec_path"]
	return ok
}

func decodeJSON(src []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &json.SyntaxError{Offset: dec.InputOffset()}
	}
	return v, nil
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(src []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(src)))
	before := src[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

//go:embed eval.js
var evalScript string

// evalNode runs node on path (mode "module": require or import it; "expr": evaluate it as one
// expression) and reads the result from fd 3, so whatever the file prints does not mix with it.
func evalNode(ctx context.Context, path, mode string, opts ReadOptions, doc *Document) error {
	node := opts.Node
	if node == "" {
		node = "node"
	}
	bin, err := exec.LookPath(node)
	if err != nil {
		return fmt.Errorf("%s is JavaScript, which only node can read (PM2 runs it too), and %q was not found: install Node.js, or give --node PATH", path, node)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	var output bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-e", evalScript, mode, abs)
	cmd.Dir = filepath.Dir(abs)
	cmd.Stdout = &limitedBuffer{buf: &output, max: 64 << 10}
	cmd.Stderr = cmd.Stdout
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("run %s: %w", bin, err)
	}
	w.Close()
	// A process the file started, and that escaped the group, may hold fd 3 open: stop reading
	// when the time is up whatever it does.
	_ = r.SetReadDeadline(time.Now().Add(timeout + 2*time.Second))
	result, readErr := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	waitErr := cmd.Wait()
	if ctx.Err() == context.DeadlineExceeded || errors.Is(readErr, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%s: node did not finish evaluating it within %s (does it wait for something, or start a server?)%s", path, timeout, tail(output.String()))
	}
	if readErr != nil {
		return fmt.Errorf("%s: read node's result: %w", path, readErr)
	}
	if len(result) > MaxFileSize {
		return fmt.Errorf("%s: module.exports is more than %d bytes of JSON", path, MaxFileSize)
	}
	var res struct {
		Error   string          `json:"error"`
		Value   json.RawMessage `json:"value"`
		Dropped []string        `json:"dropped"`
	}
	if err := json.Unmarshal(result, &res); err != nil {
		if waitErr != nil {
			return fmt.Errorf("%s: node failed (%v)%s", path, waitErr, tail(output.String()))
		}
		return fmt.Errorf("%s: node's result is not JSON: %w", path, err)
	}
	if res.Error != "" {
		return fmt.Errorf("%s: node could not evaluate it: %s", path, res.Error)
	}
	v, err := decodeJSON(res.Value)
	if err != nil {
		return fmt.Errorf("%s: node's result is not JSON: %w", path, err)
	}
	doc.Value, doc.Dropped = v, res.Dropped
	return nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return "; it printed:\n" + s
}

// limitedBuffer keeps the first max bytes written to it and discards the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// readLimited reads path, or fails when it holds more than max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(src)) > max {
		return nil, fmt.Errorf("%s: more than a PM2 file holds (at most %d bytes)", path, max)
	}
	return src, nil
}
