package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// logsOptions are eco logs' flags.
type logsOptions struct {
	lines     int
	follow    bool
	errOnly   bool
	outOnly   bool
	instance  int
	since     string
	grep      string
	json      bool
	raw       bool
	timestamp bool
	daemon    bool
	rotate    bool

	// Derived from the flags.
	sinceT time.Time
	re     *regexp.Regexp
}

func (c *cli) newLogsCmd() *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [APP|all]",
		Short: "Show an app's log lines, or follow them as they are written (-f)",
		Long: `Show the last lines of the log files of an app (or of every app), or follow the
lines as the daemon captures them with -f. Each line is prefixed with its app and
instance and the stream it came from (out or err); --raw prints the lines alone.
eco's own lines about the instances (started, ready, exited with code or signal,
restarting because ..., stopped) show as stream "eco", and what instances send with
process.send as stream "message"; in text log files they start with "[eco] ".

Lines are read from the app's files (out_file, error_file, or ECO_HOME/logs/<app>-out-<n>.log
and <app>-error-<n>.log), continuing into rotated files when a file has fewer lines than
asked. An app that was deleted is still found while its default files remain.

--since and the time of each line need the app's lines to carry a time: set
log_date_format, or log_type = "json". Followed lines always have the time they were
captured.

  eco logs                     the last 15 lines of every app
  eco logs web -f              the last lines of web, then every new one
  eco logs web --err --lines 100
  eco logs web --since 10m --grep 'GET /api'
  eco logs --daemon            the daemon's own log (ECO_HOME/daemon.log)
  eco logs --rotate            rotate every log file now (as does SIGHUP to the daemon)`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "all"
			if len(args) == 1 {
				name = args[0]
			}
			return c.logs(cmd.Context(), name, o)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&o.lines, "lines", "n", 15, "how many lines to show per file before following (0: none)")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing new lines as they are captured (Ctrl-C ends)")
	f.BoolVar(&o.errOnly, "err", false, "only the error stream")
	f.BoolVar(&o.outOnly, "out", false, "only the output stream")
	f.IntVar(&o.instance, "instance", -1, "only this instance (0, 1, ...)")
	f.StringVar(&o.since, "since", "", `only lines since a time ("2026-11-27 10:00", RFC 3339) or for a duration ("10m")`)
	f.StringVar(&o.grep, "grep", "", "only lines matching this regular expression")
	f.BoolVar(&o.json, "json", false, "print one JSON object per line: time, app, instance, stream, message")
	f.BoolVar(&o.raw, "raw", false, "print the lines alone, without app and instance")
	f.BoolVar(&o.timestamp, "timestamp", false, "print each line's time before it, where it is known")
	f.BoolVar(&o.daemon, "daemon", false, "show the daemon's own log")
	f.BoolVar(&o.rotate, "rotate", false, "rotate every open log file now, and print nothing else")
	cmd.MarkFlagsMutuallyExclusive("err", "out")
	cmd.MarkFlagsMutuallyExclusive("json", "raw")
	return cmd
}

func (c *cli) newFlushCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "flush [APP|all]",
		Short: "Empty the current log files of an app, or of every app (rotated files stay)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "all"
			if len(args) == 1 {
				name = args[0]
			}
			var resp runtime.ActionResponse
			if _, err := c.call(cmd.Context(), "POST", "/v1/logs/flush?app="+url.QueryEscape(name), nil, &resp); err != nil {
				return err
			}
			printDone(c, resp)
			return nil
		},
	}
}

// parseSince reads --since: a duration back from now, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := ecosystem.ParseDuration(s); err == nil && !isNumber(s) {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			y, m, d := now.Date()
			return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, time.Local), nil
		}
	}
	return time.Time{}, fmt.Errorf(`--since %q: not a duration ("10m", "2h") or a time ("2026-11-27 10:00", "10:00", RFC 3339)`, s)
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func (c *cli) logs(ctx context.Context, name string, o *logsOptions) error {
	if o.rotate {
		var resp runtime.ActionResponse
		if _, err := c.call(ctx, "POST", "/v1/logs/rotate", nil, &resp); err != nil {
			return err
		}
		printDone(c, resp)
		return nil
	}
	if o.lines < 0 {
		return fmt.Errorf("--lines %d: want 0 or more lines", o.lines)
	}
	if o.since != "" {
		t, err := parseSince(o.since, time.Now())
		if err != nil {
			return err
		}
		o.sinceT = t
	}
	if o.grep != "" {
		re, err := regexp.Compile(o.grep)
		if err != nil {
			return fmt.Errorf("--grep: %w", err)
		}
		o.re = re
	}
	h, err := home()
	if err != nil {
		return err
	}
	cl, running, err := runningClient(ctx)
	if err != nil && !errors.Is(err, control.ErrNoDaemon) {
		return err
	}
	var sources []runtime.LogSource
	switch {
	case o.daemon:
		sources = []runtime.LogSource{{Instance: -1, Stream: logs.StreamDaemon, Path: runtime.DaemonLogPath(h)}}
	case running:
		err := cl.Do(ctx, "GET", "/v1/logs/files?app="+url.QueryEscape(name), nil, &sources)
		var apiErr *control.APIError
		if errors.As(err, &apiErr) && apiErr.Status == 404 {
			sources, err = runtime.DeletedLogSources(h, name)
			if err == nil && len(sources) == 0 {
				return fmt.Errorf("no app named %q and no log files of one in %s/logs (eco ls lists the apps)", name, h)
			}
		}
		if err != nil {
			return err
		}
	default:
		if o.follow {
			return errors.New("no eco daemon is running: there is nothing to follow (eco apply starts one)")
		}
		sources, err = runtime.DeletedLogSources(h, name)
		if err != nil {
			return err
		}
		if len(sources) == 0 && name != "all" {
			return fmt.Errorf("no eco daemon is running and %s/logs has no log files of %q", h, name)
		}
	}
	if running && !o.daemon {
		c.warnConfigErrors(ctx, cl, name)
	}
	sources = pickSources(sources, o)
	if !o.sinceT.IsZero() {
		for _, s := range sources {
			if !s.JSON && s.Layout == "" && s.Stream != logs.StreamDaemon {
				return fmt.Errorf("--since needs the time of each line, and %s writes none: set log_date_format or log_type = \"json\" for it", s.App)
			}
		}
	}

	p := &logPrinter{w: bufio.NewWriter(c.stdout), o: o, color: colorFor(c.stdout) && !o.json && !o.raw}
	p.width = prefixWidth(sources)
	p.layouts = map[string]string{}
	for _, s := range sources {
		switch {
		case s.JSON:
			p.layouts[s.App] = displayLayout
		case s.Layout != "":
			p.layouts[s.App] = s.Layout
		}
	}
	var stream io.ReadCloser
	if o.follow {
		// Follow before reading the files, so that no line falls between the two.
		q := url.Values{}
		if o.daemon {
			q.Set("daemon", "1")
		} else {
			q.Set("app", name)
			if o.instance >= 0 {
				q.Set("instance", strconv.Itoa(o.instance))
			}
			if o.errOnly {
				q.Set("stream", logs.StreamErr)
			} else if o.outOnly {
				q.Set("stream", logs.StreamOut)
			}
		}
		stream, err = cl.Stream(ctx, "/v1/logs/follow?"+q.Encode())
		if err != nil {
			return err
		}
		defer stream.Close()
	}
	if o.lines > 0 {
		if err := p.printTails(sources); err != nil {
			return err
		}
	}
	if err := p.w.Flush(); err != nil || stream == nil {
		return err
	}
	r := bufio.NewReaderSize(stream, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return errors.New("follow: the daemon ended the stream (it stopped; eco ls starts it again)")
			}
			return fmt.Errorf("follow: %w", err)
		}
		var e logs.Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("follow: %w", err)
		}
		if e.Skipped > 0 {
			fmt.Fprintf(p.w, "(%d lines not shown: eco logs -f read more slowly than the apps wrote; the files have them)\n", e.Skipped)
		}
		if o.re == nil || o.re.MatchString(e.Message) {
			p.print(entry{Entry: e, timed: true})
		}
		// Print a burst in one write, and each line as soon as no other is waiting.
		if r.Buffered() == 0 {
			if err := p.w.Flush(); err != nil {
				return err
			}
		}
	}
}

// pickSources keeps the files the flags ask for. log_file (both streams) is shown only for an
// app whose streams have no file of their own, so no line is shown twice.
func pickSources(all []runtime.LogSource, o *logsOptions) []runtime.LogSource {
	own := map[string]bool{}
	for _, s := range all {
		if s.Stream == logs.StreamOut || s.Stream == logs.StreamErr {
			own[s.App] = true
		}
	}
	var out []runtime.LogSource
	for _, s := range all {
		switch {
		case s.Stream == "combined" && (own[s.App] || o.errOnly || o.outOnly):
		case o.errOnly && s.Stream == logs.StreamOut, o.outOnly && s.Stream == logs.StreamErr:
		case o.instance >= 0 && s.Instance >= 0 && s.Instance != o.instance:
		default:
			out = append(out, s)
		}
	}
	return out
}

// entry is a line to print; timed says whether Time is known.
type entry struct {
	logs.Entry
	timed bool
}

type logPrinter struct {
	w     *bufio.Writer
	o     *logsOptions
	color bool
	width int
	// layouts are the time layouts of the apps whose lines carry a time (log_date_format,
	// log_type = "json"): their lines are shown with it, as in their files.
	layouts map[string]string
}

// displayLayout shows a time when the app has no layout of its own.
const displayLayout = "2006-01-02T15:04:05.000Z07:00"

// printTails prints the last lines of each source: merged by time when every line has one,
// file by file otherwise.
func (p *logPrinter) printTails(sources []runtime.LogSource) error {
	var all []entry
	timed := true
	for _, s := range sources {
		lines, err := p.tail(s)
		if err != nil {
			return err
		}
		for _, l := range lines {
			timed = timed && l.timed
		}
		all = append(all, lines...)
	}
	if timed {
		sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	}
	for _, e := range all {
		p.print(e)
	}
	return nil
}

// tail reads the last lines of s that pass the filters, from its file and then its rotated
// files, newest first, and returns them oldest first.
func (p *logPrinter) tail(s runtime.LogSource) ([]entry, error) {
	files := []string{s.Path}
	if rotated, err := logs.Rotated(s.Path); err == nil {
		for i := len(rotated) - 1; i >= 0; i-- {
			files = append(files, rotated[i])
		}
	}
	format := s.Format()
	var out []entry
	done := false
	for _, path := range files {
		err := logs.Backward(path, func(line []byte) bool {
			e := entry{Entry: logs.Entry{App: s.App, Instance: s.Instance, Stream: s.Stream}}
			t, stream, msg, ok := format.ParseLine(string(line))
			e.Message, e.Time, e.timed = msg, t, ok
			if stream != "" {
				e.Stream = stream
			} else if ev, who, text, ok := logs.ParseEvent(msg); ok {
				e.Stream, e.Message = ev, text // one of eco's lines in a text file
				if e.Instance < 0 {
					e.Message = who + " " + text // a merged file: say whose
				}
			}
			if p.o.outOnly && e.Stream != logs.StreamOut {
				return true // --out: the app's output alone, as when following
			}
			if s.Stream == logs.StreamDaemon {
				e.Message = string(line)
				e.Time, e.timed = daemonLineTime(e.Message)
			}
			if !p.o.sinceT.IsZero() && e.timed && e.Time.Before(p.o.sinceT) {
				done = true // older lines are older still
				return false
			}
			if p.o.re != nil && !p.o.re.MatchString(e.Message) {
				return true
			}
			out = append(out, e)
			if len(out) >= p.o.lines {
				done = true
				return false
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// daemonLineTime reads the time of a daemon log line (slog's text: time=... level=...).
func daemonLineTime(line string) (time.Time, bool) {
	v, ok := strings.CutPrefix(line, "time=")
	if !ok {
		return time.Time{}, false
	}
	v, _, _ = strings.Cut(v, " ")
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}

// ansi colours for the prefixes: an app keeps its colour; the error stream is red.
var prefixColors = []string{"\x1b[36m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[33m", "\x1b[96m"}

const (
	red   = "\x1b[31m"
	reset = "\x1b[0m"
)

func label(app string, instance int, stream string) string {
	switch {
	case stream == logs.StreamDaemon:
		return "eco daemon"
	case instance < 0:
		return app + " " + shortStream(stream)
	}
	return fmt.Sprintf("%s[%d] %s", app, instance, shortStream(stream))
}

func shortStream(s string) string {
	if s == "combined" {
		return "log"
	}
	return s
}

func prefixWidth(sources []runtime.LogSource) int {
	w := 0
	for _, s := range sources {
		w = max(w, len(label(s.App, s.Instance, s.Stream)))
	}
	return w
}

func (p *logPrinter) print(e entry) {
	if p.o.json {
		out := struct {
			Time     *time.Time `json:"time,omitempty"`
			App      string     `json:"app,omitempty"`
			Instance *int       `json:"instance,omitempty"`
			Stream   string     `json:"stream"`
			Message  string     `json:"message"`
		}{App: e.App, Stream: e.Stream, Message: e.Message}
		if e.timed {
			out.Time = &e.Time
		}
		if e.Instance >= 0 {
			out.Instance = &e.Instance
		}
		b, _ := json.Marshal(out)
		p.w.Write(b)
		p.w.WriteByte('\n')
		return
	}
	if !p.o.raw {
		l := label(e.App, e.Instance, e.Stream)
		if len(l) > p.width {
			p.width = len(l)
		}
		if p.color {
			c := prefixColors[appHash(e.App)%uint32(len(prefixColors))]
			if e.Stream == logs.StreamErr {
				c = red
			}
			fmt.Fprintf(p.w, "%s%-*s |%s ", c, p.width, l, reset)
		} else {
			fmt.Fprintf(p.w, "%-*s | ", p.width, l)
		}
	}
	if layout, own := p.layouts[e.App]; e.timed && (p.o.timestamp || (own && !p.o.raw)) {
		if layout == "" {
			layout = displayLayout
		}
		p.w.WriteString(e.Time.Local().Format(layout))
		p.w.WriteString(": ")
	}
	p.w.WriteString(e.Message)
	p.w.WriteByte('\n')
}

func appHash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// warnConfigErrors says on stderr when the last save of an app's configuration was not applied
// because of errors (hot reconcile), so that a user reading the logs of an app that did not
// change knows why.
func (c *cli) warnConfigErrors(ctx context.Context, cl *control.Client, name string) {
	var apps []runtime.AppStatus
	if err := cl.Do(ctx, "GET", "/v1/apps", nil, &apps); err != nil {
		return
	}
	shown := map[string]bool{}
	for _, a := range apps {
		if (name != "all" && a.Name != name) || len(a.ConfigErrors) == 0 || shown[a.Project] {
			continue
		}
		shown[a.Project] = true
		fmt.Fprintf(c.stderr, "Project %s: the last save of its configuration has errors and was not applied; the apps run the last good one:\n", a.Project)
		writeConfigErrors(c.stderr, a, colorFor(c.stderr))
	}
}
