package ecosystem

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/schema"
)

// MaxNameLen is the longest app or project name, in bytes: an app's log files are named after
// it, and a file name holds 255 bytes.
const MaxNameLen = 100

// Check applies the value rules of a checked Config: the ones that need only the values, not
// the HCL they came from. Decode runs it on what it builds, and the daemon on every Config it
// is sent, so a file and a request are held to the same rules. Every problem is reported. A
// diagnostic points at the attribute's range when the Config came from a file; one that came as
// JSON has no ranges, and then the summary names the app.
func Check(cfg *Config) hcl.Diagnostics { return check(cfg, nil) }

// check is Check; declared are the names of the apps a file declares (nil: those of cfg).
func check(cfg *Config, declared []string) hcl.Diagnostics {
	c := &checker{}
	if cfg == nil {
		c.add(nil, "Missing configuration", "The request has no configuration.")
		return c.diags
	}
	c.project(cfg)
	if cfg.Dir != "" && !filepath.IsAbs(cfg.Dir) {
		c.add(nil, "Invalid dir", fmt.Sprintf("dir must be an absolute path; got %q.", cfg.Dir))
	}
	for i := range cfg.Apps {
		c.app(&cfg.Apps[i], nil)
	}
	c.duplicates(cfg.Apps)
	c.depends(cfg.Apps, declared)
	return c.diags
}

// MinLogSize is the smallest log_rotate.max_size: a file must hold more than a few lines.
const MinLogSize ByteSize = 4 << 10

// InstanceLimit is the most instances the app may have: max_instances, or its default.
func (a *App) InstanceLimit() int {
	if a.MaxInstances > 0 {
		return min(a.MaxInstances, schema.MaxInstancesCeiling)
	}
	return schema.DefaultMaxInstances
}

// CheckInstances reports why n instances are not allowed for the app, or nil.
func (a *App) CheckInstances(n int) error {
	if n < 1 {
		return fmt.Errorf("instances %d must be at least 1", n)
	}
	if lim := a.InstanceLimit(); n > lim && a.MaxInstances >= n {
		return fmt.Errorf("instances %d is over eco's ceiling of %d instances per app", n, lim)
	} else if n > lim && n > schema.MaxInstancesCeiling {
		return fmt.Errorf("instances %d is over the limit of %d, and over eco's ceiling of %d instances per app", n, lim, schema.MaxInstancesCeiling)
	} else if n > lim {
		return fmt.Errorf("instances %d is over the limit of %d; raise it with max_instances = %d in app %q if the app really needs that many", n, lim, n, a.Name)
	}
	return nil
}

// NameProblem says what is wrong with name as an app or project name, or "" when it is valid:
// 1 to MaxNameLen letters, digits, '_', '.' and '-', starting with a letter or digit, without
// "..". Such a name is safe in a file name, a URL path and a terminal.
func NameProblem(name string) string {
	const rule = `A name is 1 to %d letters, digits, '_', '.' and '-', starting with a letter or digit, without ".."; got %q.`
	bad := name == "" || len(name) > MaxNameLen || strings.Contains(name, "..") || !isAlnum(name[0])
	for i := 0; i < len(name) && !bad; i++ {
		b := name[i]
		bad = !isAlnum(b) && b != '_' && b != '.' && b != '-'
	}
	if bad {
		return fmt.Sprintf(rule, MaxNameLen, name)
	}
	return ""
}

// appNameProblem is NameProblem, and "all" is kept for the verbs.
func appNameProblem(name string) string {
	if name == "all" {
		return `"all" is kept for commands such as "eco stop all"; name the app otherwise.`
	}
	return NameProblem(name)
}

func isAlnum(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}

// checker collects the diagnostics of Check.
type checker struct {
	diags hcl.Diagnostics
}

func (c *checker) add(subject *hcl.Range, summary, detail string) {
	c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: subject})
}

// appError reports a problem of attr in app, at attr's range, else at the app's header; with
// neither (a Config sent as JSON), the summary names the app.
func (c *checker) appError(app *App, attr, summary, format string, args ...any) {
	subject := app.rangeFor(attr)
	if subject == nil {
		summary = fmt.Sprintf("App %q: %s", app.Name, strings.ToLower(summary[:1])+summary[1:])
	}
	c.add(subject, summary, fmt.Sprintf(format, args...))
}

// rangeFor returns where attr was set, else the app's header, else nil.
func (a *App) rangeFor(attr string) *hcl.Range {
	if r, ok := a.Ranges[attr]; ok && r.Filename != "" {
		return r.Ptr()
	}
	if i := strings.LastIndexByte(attr, '.'); i > 0 {
		// An element or a block's attribute: the attribute or the block, if set.
		if r, ok := a.Ranges[attr[:i]]; ok && r.Filename != "" {
			return r.Ptr()
		}
	}
	if a.DeclRange.Filename != "" {
		return a.DeclRange.Ptr()
	}
	return nil
}

func (c *checker) project(cfg *Config) {
	p := NameProblem(cfg.Project)
	if p == "" {
		return
	}
	if cfg.ProjectRange.Filename != "" {
		c.add(cfg.ProjectRange.Ptr(), "Invalid project name", p)
		return
	}
	if len(cfg.Files) > 0 {
		p += ` The project defaults to the name of the configuration's folder; set project = "name" in the file.`
	}
	c.add(nil, "Invalid project name", p)
}

// app checks one app. skip, when not nil, names attributes already reported (a value that did
// not decode), which are not checked again.
func (c *checker) app(app *App, skip func(attr string) bool) {
	ok := func(attr string) bool { return skip == nil || !skip(attr) }
	if p := appNameProblem(app.Name); p != "" {
		c.appError(app, "name", "Invalid app name", "%s", p)
	}

	// What runs.
	switch {
	case !ok("script") || !ok("command"):
	case app.Script != "" && len(app.Command) > 0:
		c.appError(app, "command", "Conflicting script and command",
			"App %q sets both script and command; set exactly one: script for a file run by its interpreter, command for a program and its arguments.", app.Name)
	case app.Script == "" && len(app.Command) == 0:
		detail := fmt.Sprintf(`App %q has nothing to run: set script = "server.js" or command = ["./bin/api", "--flag"].`, app.Name)
		if app.IsSet("command") {
			detail = fmt.Sprintf("App %q has an empty command; give at least the program to run.", app.Name)
		}
		c.appError(app, "command", "Missing script or command", "%s", detail)
	case len(app.Command) > 0 && app.Command[0] == "":
		c.appError(app, "command", "Missing script or command", "App %q has an empty program name in command; its first word is the program to run.", app.Name)
	case len(app.Command) > 0:
		for _, attr := range []string{"interpreter", "node_args"} {
			if (attr == "interpreter" && app.Interpreter != "") || (attr == "node_args" && len(app.NodeArgs) > 0) {
				c.appError(app, attr, "Conflicting "+attr+" and command",
					"%s applies to script; with command, put the program and its arguments in command itself.", attr)
			}
		}
	}
	if app.Script != "" && !filepath.IsAbs(app.Script) {
		c.appError(app, "script", "Invalid script", "script must be an absolute path in a checked configuration; got %q.", app.Script)
	}
	if !filepath.IsAbs(app.Cwd) {
		c.appError(app, "cwd", "Invalid cwd", "cwd must be an absolute path in a checked configuration; got %q.", app.Cwd)
	}
	for _, f := range []struct {
		attr string
		list []string
	}{
		{"script", []string{app.Script}}, {"command", app.Command}, {"args", app.Args},
		{"interpreter", []string{app.Interpreter}}, {"node_args", app.NodeArgs}, {"cwd", []string{app.Cwd}},
		{"watch", app.Watch}, {"ignore_watch", app.IgnoreWatch},
	} {
		for _, s := range f.list {
			if strings.IndexByte(s, 0) >= 0 {
				c.appError(app, f.attr, "Invalid "+f.attr, "%s holds a NUL byte, which no program can be given: %q.", f.attr, s)
				break
			}
		}
	}
	// image is read by eco export only, but a broken one would make broken objects there.
	if (app.Image != "" || app.IsSet("image")) && !imageRE().MatchString(app.Image) {
		c.appError(app, "image", "Invalid image",
			`image must be a container image reference such as "registry.example.com/shop/api:1.4" (letters, digits and . _ - / : @, at most 255); got %q.`, app.Image)
	}
	for k, v := range app.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
			c.appError(app, "env", "Invalid environment variable",
				"env: %q = %q cannot be in an environment: a name is not empty and holds no '=' or NUL, a value holds no NUL.", k, v)
		}
	}

	// How many and how they share a port.
	if ok("instances") {
		if app.Instances < 1 {
			c.appError(app, "instances", "Invalid instances", "instances %d must be at least 1; eco stop stops an app.", app.Instances)
		} else if lim := app.InstanceLimit(); app.Instances > lim && app.MaxInstances >= app.Instances {
			c.appError(app, "instances", "Too many instances",
				"instances %d is over eco's ceiling of %d instances per app: each instance is a process, with pipes and sockets in the daemon.",
				app.Instances, schema.MaxInstancesCeiling)
		} else if app.Instances > lim && app.Instances > schema.MaxInstancesCeiling {
			c.appError(app, "instances", "Too many instances",
				"instances %d is over the limit of %d instances per app, which guards against a typo exhausting the machine, and over eco's ceiling of %d, which max_instances cannot raise.",
				app.Instances, lim, schema.MaxInstancesCeiling)
		} else if app.Instances > lim {
			c.appError(app, "instances", "Too many instances",
				"instances %d is over the limit of %d instances per app, which guards against a typo exhausting the machine. If app %q really needs that many, raise the limit with max_instances = %d.",
				app.Instances, lim, app.Name, app.Instances)
		}
	}
	if app.MaxInstances < 0 || (app.MaxInstances == 0 && app.IsSet("max_instances")) {
		c.appError(app, "max_instances", "Invalid max_instances", "max_instances %d must be at least 1.", app.MaxInstances)
	} else if app.MaxInstances > schema.MaxInstancesCeiling {
		c.appError(app, "max_instances", "Invalid max_instances",
			"max_instances %d is over eco's ceiling of %d instances per app: each instance is a process, with pipes and sockets in the daemon.",
			app.MaxInstances, schema.MaxInstancesCeiling)
	}
	if ok("exec_mode") && app.ExecMode != Fork && app.ExecMode != Cluster {
		c.appError(app, "exec_mode", "Invalid value for exec_mode", `exec_mode must be "fork" or "cluster"; got %q.`, app.ExecMode)
	}
	if ok("port") && (app.Port < 0 || app.Port > 65535) {
		c.appError(app, "port", "Invalid port", "port must be 1 to 65535; got %d.", app.Port)
	}
	if app.ExecMode == Cluster && app.Port == 0 && ok("port") {
		c.appError(app, "exec_mode", "Missing port for cluster mode",
			`App %q runs in cluster mode, where eco binds the public port and its instances share it, so eco needs to know the port: set port = 3000 (or env = { PORT = 3000 }).`, app.Name)
	}
	c.enum(app, "balance", string(app.Balance), true)
	c.handoff(app)
	c.enum(app, "log_type", app.LogType, false)

	for _, attr := range []string{"instance_var", "increment_var"} {
		v := app.InstanceVar
		if attr == "increment_var" {
			v = app.IncrementVar
		}
		if ok(attr) && (v != "" || attr == "instance_var" || app.IsSet(attr)) && !envNameRE().MatchString(v) {
			c.appError(app, attr, "Invalid "+attr, "%s must be an environment variable name (letters, digits and '_', not starting with a digit); got %q.", attr, v)
		}
	}
	if inc := app.IncrementVar; inc != "" && envNameRE().MatchString(inc) {
		val, found := app.Env[inc]
		start, err := strconv.Atoi(val)
		if inc == "PORT" && app.Port != 0 {
			start, err, found = app.Port, nil, true // the port attribute sets PORT (runtime/env.go)
		}
		if !found || err != nil {
			c.appError(app, "increment_var", "Invalid increment_var",
				"increment_var = %q needs a whole-number starting value in env (for example env = { %s = 3000 }); eco adds the instance's number to it.", inc, inc)
		} else if last := start + app.Instances - 1; inc == "PORT" && app.Instances >= 1 && last > 65535 {
			c.appError(app, "increment_var", "Invalid increment_var",
				"increment_var = \"PORT\" gives instance %d port %d: ports are 1 to 65535. Start lower than %d, or run fewer instances.", app.Instances-1, last, start)
		}
	}

	// Stopping and restarting.
	if ok("stop_signal") && !knownSignal(app.StopSignal) {
		c.appError(app, "stop_signal", "Invalid signal", `stop_signal %q is not a signal name; write one such as "SIGINT", "SIGTERM" or "SIGQUIT".`, app.StopSignal)
	}
	for _, code := range app.StopExitCodes {
		if code < 0 || code > 255 {
			c.appError(app, "stop_exit_codes", "Invalid exit code", "stop_exit_codes holds %d; exit codes are 0 to 255.", code)
		}
	}
	if ok("max_parallel") && app.MaxParallel < 1 {
		c.appError(app, "max_parallel", "Invalid max_parallel",
			"max_parallel is how many instances a rolling restart replaces at once: 1 or more; got %d.", app.MaxParallel)
	}
	c.notNegative(app, "max_restarts", int64(app.MaxRestarts))
	c.notNegative(app, "log_rotate.max_files", int64(app.LogRotate.MaxFiles))
	for _, d := range []struct {
		attr string
		d    Duration
	}{
		{"listen_timeout", app.ListenTimeout}, {"kill_timeout", app.KillTimeout}, {"min_uptime", app.MinUptime},
		{"restart_delay", app.RestartDelay}, {"exp_backoff_restart_delay", app.ExpBackoffRestartDelay},
		{"memory_check_interval", app.MemoryCheckInterval}, {"watch_delay", app.WatchDelay}, {"log_rotate.max_age", app.LogRotate.MaxAge},
	} {
		if d.d < 0 {
			c.appError(app, d.attr, "Invalid "+d.attr, "%s must not be negative; got %s.", d.attr, d.d.D())
		}
	}
	c.notNegative(app, "max_memory_restart", int64(app.MaxMemoryRestart))
	c.notNegative(app, "log_rotate.max_size", int64(app.LogRotate.MaxSize))
	if sz := app.LogRotate.MaxSize; sz > 0 && sz < MinLogSize {
		c.appError(app, "log_rotate.max_size", "log_rotate.max_size too small",
			"Files rotate once they reach max_size, so %s would make a new file every few lines; use %s or more (\"%s\").", sz, MinLogSize, MinLogSize)
	}
	if ok("cron_restart") && app.CronRestart != "" {
		if _, err := cronParser.Parse(app.CronRestart); err != nil {
			c.appError(app, "cron_restart", "Invalid cron expression", "cron_restart %q: %s.", app.CronRestart, err)
		}
	}

	c.probes(app, ok)

	// Logs: absolute, or the default (named after the app, inside ECO_HOME/logs), or /dev/null.
	for _, f := range []struct{ attr, path string }{{"out_file", app.OutFile}, {"error_file", app.ErrorFile}, {"log_file", app.LogFile}} {
		if f.path != "" && (!filepath.IsAbs(f.path) || strings.IndexByte(f.path, 0) >= 0) {
			c.appError(app, f.attr, "Invalid "+f.attr, "%s must be an absolute path, or empty for the default, in a checked configuration; got %q.", f.attr, f.path)
		}
	}
}

// imageRE is what an image reference may be made of: [registry[:port]/]name[:tag][@digest].
var imageRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$`) })

// enum checks an attribute whose value is one of the schema's; empty passes when optional.
func (c *checker) enum(app *App, attr, v string, optional bool) {
	sa, _ := schema.App.Attr(attr)
	if (v == "" && optional) || contains(sa.Values, v) {
		return
	}
	detail := fmt.Sprintf("%s must be %s; got %q.", attr, orList(sa.Values), v)
	if s := suggest(v, sa.Values); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	}
	c.appError(app, attr, "Invalid value for "+attr, "%s", detail)
}

func (c *checker) notNegative(app *App, attr string, n int64) {
	if n < 0 {
		c.appError(app, attr, "Invalid "+attr, "%s must not be negative; got %d.", attr, n)
	}
}

// duplicates reports apps that share a name or a port.
func (c *checker) duplicates(apps []App) {
	names := map[string]*App{}
	ports := map[int]*App{}
	for i := range apps {
		app := &apps[i]
		if prev, dup := names[app.Name]; dup {
			c.appError(app, "name", "Duplicate app", "An app named %q appears twice; app names are unique across the configuration.", prev.Name)
			continue
		}
		names[app.Name] = app
		if app.Port == 0 {
			continue
		}
		if prev, dup := ports[app.Port]; dup {
			c.appError(app, "port", "Duplicate port", "Apps %q and %q both use port %d; only one can listen on it.", prev.Name, app.Name, app.Port)
			continue
		}
		ports[app.Port] = app
	}
}

// knownSignal reports whether s is a signal's canonical name, such as "SIGINT".
func knownSignal(s string) bool {
	return strings.HasPrefix(s, "SIG") && unix.SignalNum(s) != 0
}
