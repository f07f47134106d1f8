package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime/control"
)

// LogSource is one log file of an app, as eco logs reads it.
type LogSource struct {
	App string `json:"app"`
	// Instance is the instance whose lines the file has, or -1 for every instance (merge_logs).
	Instance int `json:"instance"`
	// Stream is "out", "err", or "combined" for log_file.
	Stream string `json:"stream"`
	Path   string `json:"path"`
	// Layout is the Go time layout of the lines' prefix ("" for none); JSON is log_type = "json".
	Layout string `json:"layout,omitempty"`
	JSON   bool   `json:"json,omitempty"`
}

// Format is how the lines of the file were written.
func (s LogSource) Format() logs.Format {
	return logs.Format{Layout: s.Layout, JSON: s.JSON, App: s.App, Instance: s.Instance}
}

// logSources lists the log files of spec's instances.
func logSources(home string, spec *ecosystem.App, instances int) []LogSource {
	layout := logs.TranslateLayout(spec.LogDateFormat)
	json := spec.LogType == "json"
	var out []LogSource
	seen := map[string]bool{}
	add := func(index int) {
		o, e, c := logPaths(home, spec, index)
		for _, s := range []struct{ stream, path string }{{logs.StreamOut, o}, {logs.StreamErr, e}, {"combined", c}} {
			if s.path == "" || seen[s.path] {
				continue
			}
			seen[s.path] = true
			idx := index
			if spec.MergeLogs {
				idx = -1
			}
			out = append(out, LogSource{App: spec.Name, Instance: idx, Stream: s.stream, Path: s.path, Layout: layout, JSON: json})
		}
	}
	for i := range max(instances, 1) {
		add(i)
	}
	return out
}

// logSources lists the log files of the runner's app: of its desired instances and of any
// still running past them (a scale-down in progress).
func (r *appRunner) logSources(home string) []LogSource {
	r.mu.Lock()
	spec, n := r.spec, r.spec.Instances
	for idx := range r.instances {
		n = max(n, idx+1)
	}
	r.mu.Unlock()
	return logSources(home, spec, n)
}

// DeletedLogSources finds the default log files of an app the daemon does not run (any more),
// or of every app for "" or "all": home/logs/<app>-out[-N].log and <app>-error[-N].log.
func DeletedLogSources(home, app string) ([]LogSource, error) {
	dir := filepath.Join(home, "logs")
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	name := `(.+)`
	if app != "" && app != "all" {
		name = `(` + regexp.QuoteMeta(app) + `)`
	}
	re := regexp.MustCompile(`^` + name + `-(out|error)(?:-(\d+))?\.log$`)
	var out []LogSource
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		stream := logs.StreamOut
		if m[2] == "error" {
			stream = logs.StreamErr
		}
		idx := -1
		if m[3] != "" {
			idx, _ = strconv.Atoi(m[3])
		}
		out = append(out, LogSource{App: m[1], Instance: idx, Stream: stream, Path: filepath.Join(dir, e.Name())})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].App != out[j].App {
			return out[i].App < out[j].App
		}
		if out[i].Instance != out[j].Instance {
			return out[i].Instance < out[j].Instance
		}
		return out[i].Stream > out[j].Stream // out before err
	})
	return out, nil
}

// runnersNamed returns the runner called name, or every runner for "all" or "", sorted.
func (d *Daemon) runnersNamed(name string) ([]*appRunner, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if name != "" && name != "all" {
		r := d.apps[name]
		if r == nil {
			return nil, fmt.Errorf("%w: no app named %q (eco ls lists them)", errNotFound, name)
		}
		return []*appRunner{r}, nil
	}
	out := make([]*appRunner, 0, len(d.apps))
	for _, r := range d.apps {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name() < out[j].name() })
	return out, nil
}

// logRoutes adds the log endpoints to mux.
func (d *Daemon) logRoutes(mux *http.ServeMux) {
	// The files of one app or of all; eco logs reads them itself.
	mux.HandleFunc("GET /v1/logs/files", func(w http.ResponseWriter, r *http.Request) {
		runners, err := d.runnersNamed(r.URL.Query().Get("app"))
		if err != nil {
			control.WriteError(w, http.StatusNotFound, err)
			return
		}
		out := []LogSource{}
		for _, rn := range runners {
			out = append(out, rn.logSources(d.opts.Home)...)
		}
		control.WriteJSON(w, http.StatusOK, out)
	})
	// Lines as they are captured, one JSON Entry per line, until the client goes.
	mux.HandleFunc("GET /v1/logs/follow", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		app, stream := q.Get("app"), q.Get("stream")
		instance := -1
		if s := q.Get("instance"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				control.WriteError(w, http.StatusBadRequest, fmt.Errorf("instance %q: not a number", s))
				return
			}
			instance = n
		}
		daemon := q.Get("daemon") == "1"
		sub := d.hub.Subscribe(func(e *logs.Entry) bool {
			if daemon {
				return e.Stream == logs.StreamDaemon
			}
			return e.Stream != logs.StreamDaemon &&
				(app == "" || app == "all" || e.App == app) &&
				(instance < 0 || e.Instance == instance) &&
				(stream == "" || e.Stream == stream)
		}, 4096)
		defer sub.Close()
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		flusher, _ := w.(http.Flusher)
		if flusher != nil {
			flusher.Flush()
		}
		enc := json.NewEncoder(w)
		for {
			select {
			case <-r.Context().Done():
				return
			case e := <-sub.C():
				if err := enc.Encode(e); err != nil {
					return
				}
				// Write what else is waiting before flushing, so a burst is one write.
				for more := true; more; {
					select {
					case e := <-sub.C():
						if err := enc.Encode(e); err != nil {
							return
						}
					default:
						more = false
					}
				}
				if flusher != nil {
					flusher.Flush()
				}
			}
		}
	})
	mux.HandleFunc("POST /v1/logs/rotate", func(w http.ResponseWriter, r *http.Request) {
		if err := d.files.Rotate(); err != nil {
			control.WriteError(w, http.StatusInternalServerError, err)
			return
		}
		control.WriteJSON(w, http.StatusOK, ActionResponse{Done: []string{"rotated every open log file"}})
	})
	// eco flush: empty the current log files of one app or all.
	mux.HandleFunc("POST /v1/logs/flush", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("app")
		runners, err := d.runnersNamed(name)
		var sources []LogSource
		if errors.Is(err, errNotFound) {
			sources, err = DeletedLogSources(d.opts.Home, name)
			if err == nil && len(sources) == 0 {
				err = fmt.Errorf("%w: no app named %q and no log files of one", errNotFound, name)
			}
		}
		if err != nil {
			control.WriteError(w, http.StatusNotFound, err)
			return
		}
		for _, rn := range runners {
			sources = append(sources, rn.logSources(d.opts.Home)...)
		}
		var errs []error
		var done []string
		for _, s := range sources {
			if err := d.files.Truncate(s.Path); err != nil {
				errs = append(errs, err)
				continue
			}
			done = append(done, "flushed "+s.Path)
		}
		if len(errs) > 0 {
			control.WriteError(w, http.StatusInternalServerError, errors.Join(errs...))
			return
		}
		if len(done) == 0 {
			done = []string{"no log files to flush"}
		}
		control.WriteJSON(w, http.StatusOK, ActionResponse{Done: done})
	})
}
