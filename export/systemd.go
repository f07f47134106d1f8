package export

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// systemdNotes are the systemd export's report lines, by kind.
var systemdNotes = map[string]string{
	"unknown":          unknownMessage,
	"image":            "not used: the units run the app on this host",
	"memory":           "MemoryHigh=%s throttles the instance above it and MemoryMax=%s kills it (OOM); eco replaces it gracefully above %s",
	"balance-proxy":    "%q through eco's proxy has no equivalent: the instances share one socket from %s (LISTEN_FDS, as with balance = \"kernel\") and the kernel gives each connection to one of them",
	"handoff":          "\"handoff\" (eco passing each connection to the least busy Node instance) has no equivalent: the instances share one socket from %s (LISTEN_FDS, as with balance = \"kernel\") and the kernel gives each connection to one of them",
	"preload":          "eco's Node preload, which makes listen(%d) use the inherited socket, is not loaded: the app must listen on fd 3 when LISTEN_FDS is set",
	"log-rotate":       "systemd does not rotate the files it appends to; logrotate (with copytruncate) must",
	"log-file":         "no equivalent: systemd cannot also write both streams to a third file",
	"log-format":       "no equivalent: lines are written as the app prints them",
	"cron":             "no equivalent in the units (a timer unit that runs systemctl restart can do it)",
	"watch":            "no equivalent in the units (a path unit that runs systemctl restart can do it)",
	"ready-on-timeout": "systemd fails a start that sends no READY=1 within TimeoutStartSec; it cannot count the instance started instead, as ready_on_timeout does",
	"wait-ready":       "Node's process.send('ready') has no equivalent: an instance counts as started once node runs (Type=exec); an app that sends READY=1 on NOTIFY_SOCKET can use Type=notify",
	"shutdown-msg":     "no IPC channel carries the message \"shutdown\"; only the stop signal is sent",
	"restart-policy":   "systemd stops restarting after StartLimitBurst=%d starts within StartLimitIntervalSec=%s; eco counts unstable restarts in a row",
	"restart-backoff":  "no growing delay: RestartSec=%s is fixed",
	"max-parallel":     "no rolling restart: systemctl restart stops and starts the instances it is given",
	"env-name":         "systemd ignores a variable named %q (a name there is letters, digits and _, not starting with a digit): it is left out",
	"increment-var":    "an instance cannot add its number to a variable: every instance gets %s=%s",

	"depends-on":         "Requires= and After= on every instance of each: a dependency that fails to start holds this app back, as in eco, and a one-shot one (Type=oneshot) must exit 0 first; but %s",
	"readiness-probe":    "no equivalent: systemd does not probe; units after this one start once it has started (Type=%s), and an app can say READY=1 itself with Type=notify",
	"liveness-probe":     "no equivalent: systemd does not probe; WatchdogSec= restarts an instance that stops sending WATCHDOG=1 to NOTIFY_SOCKET, which the app itself must do",
	"wait-ready-oneshot": "a one-shot app is a Type=oneshot unit, started once its program exits 0: a ready message before that is not waited for",
}

// Systemd builds a template unit <project>-<app>@.service per app, run as instances @0 to
// @N-1; a <project>-<app>.socket for a cluster app, whose instances share it; and
// <project>.target, which wants them all.
func Systemd(cfg *ecosystem.Config, opts Options) (*Result, error) {
	r := &report{messages: systemdNotes}
	res := &Result{before: func(i int, f File) string {
		sep := "# ==> " + f.Name + " <==\n"
		if i > 0 {
			sep = "\n" + sep
		}
		return sep
	}}
	var wants []string
	for i := range cfg.Apps {
		app := &cfg.Apps[i]
		r.unknownAttrs(app)
		unit := cfg.Project + "-" + app.Name
		var socket string
		if app.ExecMode == ecosystem.Cluster && app.Port != 0 {
			socket = unit + ".socket"
			res.Files = append(res.Files, File{Name: socket, Data: systemdSocket(cfg, app, unit)})
			wants = append(wants, socket)
		}
		data, err := systemdService(cfg, app, unit, socket, r)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, File{Name: unit + "@.service", Data: data})
		for n := range app.Instances {
			wants = append(wants, fmt.Sprintf("%s@%d.service", unit, n))
		}
	}
	var b strings.Builder
	header(&b, cfg, "")
	fmt.Fprintf(&b, "[Unit]\nDescription=eco project %s\n", cfg.Project)
	for _, w := range wants {
		fmt.Fprintf(&b, "Wants=%s\n", w)
	}
	b.WriteString("\n[Install]\nWantedBy=default.target\n")
	res.Files = append(res.Files, File{Name: cfg.Project + ".target", Data: []byte(b.String())})
	res.Notes = r.sorted()
	return res, nil
}

func header(b *strings.Builder, cfg *ecosystem.Config, app string) {
	what := "project " + cfg.Project
	if app != "" {
		what += ", app " + app
	}
	fmt.Fprintf(b, "# Made by eco export systemd from %s (%s).\n", strings.Join(cfg.Files, ", "), what)
}

func systemdSocket(cfg *ecosystem.Config, app *ecosystem.App, unit string) []byte {
	var b strings.Builder
	header(&b, cfg, app.Name)
	fmt.Fprintf(&b, "[Unit]\nDescription=%s: port of app %s\nPartOf=%s.target\n\n", cfg.Project, app.Name, cfg.Project)
	// Every instance takes the socket with Sockets=; a connection before any runs starts @0.
	fmt.Fprintf(&b, "[Socket]\nListenStream=%d\nService=%s@0.service\n", app.Port, unit)
	return []byte(b.String())
}

func systemdService(cfg *ecosystem.Config, app *ecosystem.App, unit, socket string, r *report) ([]byte, error) {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	header(&b, cfg, app.Name)
	b.WriteString("[Unit]\n")
	line("Description", fmt.Sprintf("%s: app %s, instance %%i", cfg.Project, app.Name))
	line("PartOf", cfg.Project+".target")
	if socket != "" {
		line("Requires", socket)
		line("After", socket)
	}
	if app.Autorestart {
		burst := app.MaxRestarts + 1
		interval := max(10*time.Second, time.Duration(burst)*(app.MinUptime.D()+app.RestartDelay.D()))
		line("StartLimitBurst", strconv.Itoa(burst))
		line("StartLimitIntervalSec", sdDuration(interval))
		for _, attr := range []string{"max_restarts", "min_uptime"} {
			if app.IsSet(attr) {
				r.add(app, attr, "restart-policy", burst, sdDuration(interval))
				break
			}
		}
	}

	systemdDepends(cfg, app, line, r)

	b.WriteString("\n[Service]\n")
	switch typ := sdType(app); {
	case typ == "oneshot":
		// A one-shot app: started once its program exits 0 (so units after it wait for
		// that, as eco's dependents do), failed otherwise; active after it exits.
		line("Type", typ)
		line("RemainAfterExit", "yes")
		r.addIfSet(app, "wait_ready", "wait-ready-oneshot")
	case app.WaitReady && typ == "exec":
		// A Node app most likely says ready with process.send('ready'), which never reaches
		// systemd: waiting for READY=1 would fail every start.
		line("Type", typ)
		r.add(app, "wait_ready", "wait-ready")
	case typ == "notify":
		line("Type", typ)
		line("NotifyAccess", "all")
		line("TimeoutStartSec", sdTimeout(app.ListenTimeout.D()))
		if app.ReadyOnTimeout {
			r.add(app, "ready_on_timeout", "ready-on-timeout")
		}
	default:
		line("Type", typ)
	}
	systemdProbes(app, r)
	cwd, err := sdPath(app.Cwd)
	if err != nil {
		return nil, fmt.Errorf("app %q: cwd: %w", app.Name, err)
	}
	line("WorkingDirectory", cwd)
	command, args := argv(app, func(p string) string { return p })
	if c := command[0]; strings.Contains(c, "/") && !filepath.IsAbs(c) {
		// ExecStart wants an absolute path; eco runs a relative one from cwd.
		command[0] = filepath.Join(app.Cwd, c)
	}
	words := make([]string, 0, len(command)+len(args))
	for _, w := range append(command, args...) {
		words = append(words, sdExecWord(w))
	}
	line("ExecStart", strings.Join(words, " "))

	env := baseEnv(app)
	if inc := app.IncrementVar; inc != "" && app.Instances > 1 {
		if v, ok := env[inc]; ok {
			r.add(app, "increment_var", "increment-var", inc, v)
		}
	}
	for _, k := range sortedKeys(env) {
		if !sdEnvNameRE().MatchString(k) {
			r.add(app, "env", "env-name", k)
			continue
		}
		line("Environment", sdQuote(k+"="+env[k]))
	}
	// The instance's number is the template's instance name.
	q := sdQuote(app.InstanceVar + "=")
	line("Environment", q[:len(q)-1]+`%i"`)
	if socket != "" {
		line("Sockets", socket)
		switch app.Balance {
		case ecosystem.Kernel:
		case ecosystem.Handoff:
			r.add(app, "balance", "handoff", socket)
		default:
			r.add(app, "balance", "balance-proxy", string(app.Balance), socket)
		}
		if interpreterName(app) == "node" {
			r.add(app, "exec_mode", "preload", app.Port)
		}
	}

	// Stopping.
	line("KillSignal", app.StopSignal)
	line("TimeoutStopSec", sdTimeout(app.KillTimeout.D()))
	r.addIfSet(app, "shutdown_with_message", "shutdown-msg")
	r.addIfSet(app, "max_parallel", "max-parallel")

	// Restarts: eco restarts after any exit, unless its code is in stop_exit_codes.
	if app.Autorestart {
		line("Restart", "always")
		line("RestartSec", sdDuration(app.RestartDelay.D()))
		if len(app.StopExitCodes) > 0 {
			codes := make([]string, len(app.StopExitCodes))
			for i, c := range app.StopExitCodes {
				codes[i] = strconv.Itoa(c)
			}
			line("RestartPreventExitStatus", strings.Join(codes, " "))
		}
		r.addIfSet(app, "exp_backoff_restart_delay", "restart-backoff", sdDuration(app.RestartDelay.D()))
	} else {
		line("Restart", "no")
	}
	r.addIfSet(app, "cron_restart", "cron")
	if app.Watch != nil {
		r.add(app, "watch", "watch")
	}

	// Memory: the instance's cgroup holds its whole process tree, as eco measures it.
	if app.MaxMemoryRestart > 0 {
		high := int64(app.MaxMemoryRestart)
		hard := high + high/4
		line("MemoryHigh", strconv.FormatInt(high, 10))
		line("MemoryMax", strconv.FormatInt(hard, 10))
		r.add(app, "max_memory_restart", "memory", ecosystem.ByteSize(high), ecosystem.ByteSize(hard), app.MaxMemoryRestart)
	}

	// Logs: the files eco would write, one per instance unless merge_logs; the journal when
	// the file sets none.
	for _, s := range []struct{ key, path string }{{"StandardOutput", app.OutFile}, {"StandardError", app.ErrorFile}} {
		switch s.path {
		case "":
		case ecosystem.DevNull:
			line(s.key, "null")
		default:
			esc, err := sdPath(s.path)
			if err != nil {
				return nil, fmt.Errorf("app %q: log file: %w", app.Name, err)
			}
			if !app.MergeLogs {
				// eco's -<n> suffix, before the extension: the instance's name.
				ext, _ := sdPath(filepath.Ext(s.path))
				esc = strings.TrimSuffix(esc, ext) + "-%i" + ext
			}
			line(s.key, "append:"+esc)
		}
	}
	if app.OutFile != "" || app.ErrorFile != "" {
		if app.OutFile != ecosystem.DevNull || app.ErrorFile != ecosystem.DevNull {
			r.add(app, "log_rotate", "log-rotate")
		}
	}
	r.addIfSet(app, "log_file", "log-file")
	for _, attr := range []string{"log_date_format", "log_type"} {
		r.addIfSet(app, attr, "log-format")
	}
	r.addIfSet(app, "image", "image")
	return []byte(b.String()), nil
}

// sdEnvNameRE is what systemd takes as a variable's name in Environment=.
var sdEnvNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// sdDuration writes d as systemd reads a time span: "1600ms", "5s", "0".
func sdDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10) + "ms"
}

// sdTimeout writes a timeout: 0 is "no time at all" in eco but "no timeout" to systemd, so
// it becomes the shortest span systemd takes.
func sdTimeout(d time.Duration) string {
	if d <= 0 {
		return "1us"
	}
	return sdDuration(d)
}

// sdPath escapes a path for a unit file's value: "%" becomes "%%". A path with a control
// character cannot be written in a unit file.
func sdPath(p string) (string, error) {
	for _, c := range p {
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%q has a control character, which a unit file cannot hold", p)
		}
	}
	return strings.ReplaceAll(p, "%", "%%"), nil
}

// sdQuote writes s as one double-quoted word of a unit file, with C escapes, "%" as "%%".
func sdQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '%':
			b.WriteString("%%")
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\x%02x`, c)
			} else {
				b.WriteRune(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// sdExecWord writes one word of ExecStart: as it is when it is plain, else quoted; "$"
// becomes "$$" so that systemd does not expand it.
func sdExecWord(w string) string {
	w = strings.ReplaceAll(w, "$", "$$")
	plain := w != ""
	for _, c := range w {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/._-+=,:@", c)) {
			plain = false
			break
		}
	}
	if plain && w != ";" {
		return w
	}
	return sdQuote(w)
}
