package ecosystem

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The rules of depends_on, readiness_probe and liveness_probe.

// depends checks every app's depends_on against the configuration: each name is an app of the
// same configuration, listed once, and the dependencies make no cycle. declared are the names
// of every app the file declares, also those left out of apps for their own errors, which are
// not reported again; nil means the names of apps.
func (c *checker) depends(apps []App, declared []string) {
	byName := map[string]*App{}
	for i := range apps {
		byName[apps[i].Name] = &apps[i]
	}
	known := func(name string) bool {
		if declared != nil {
			return slices.Contains(declared, name)
		}
		return byName[name] != nil
	}
	for i := range apps {
		app := &apps[i]
		seen := map[string]bool{}
		for j, dep := range app.DependsOn {
			attr := fmt.Sprintf("depends_on.%d", j)
			switch {
			case seen[dep]:
				c.appError(app, attr, "Duplicate dependency", "depends_on lists %q twice.", dep)
			case !known(dep):
				detail := fmt.Sprintf("depends_on names %q, but this configuration has no app of that name; an app depends only on apps of its own project.", dep)
				names := declared
				if names == nil {
					for n := range byName {
						names = append(names, n)
					}
					slices.Sort(names)
				}
				if s := suggest(dep, names); s != "" {
					detail += fmt.Sprintf(" Did you mean %q?", s)
				}
				c.appError(app, attr, "Unknown dependency", "%s", detail)
			}
			seen[dep] = true
		}
	}
	for _, cycle := range DependencyCycles(apps) {
		app := byName[cycle[0]]
		attr := "depends_on"
		if i := slices.Index(app.DependsOn, cycle[1]); i >= 0 {
			attr = fmt.Sprintf("depends_on.%d", i)
		}
		c.appError(app, attr, "Dependency cycle",
			"The apps depend on each other in a circle, so none of them could start: %s. Remove one of these dependencies.", strings.Join(cycle, " -> "))
	}
}

// DependencyCycles returns each cycle of depends_on among apps once, as the names along it
// from its smallest name back to that name ("api", "web", "api"). Names of no app are ignored.
func DependencyCycles(apps []App) [][]string {
	deps := map[string][]string{}
	for _, a := range apps {
		deps[a.Name] = a.DependsOn
	}
	names := make([]string, 0, len(deps))
	for n := range deps {
		names = append(names, n)
	}
	slices.Sort(names)
	const (
		unvisited = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var cycles [][]string
	var visit func(n string)
	visit = func(n string) {
		state[n] = onPath
		path = append(path, n)
		for _, m := range deps[n] {
			if _, ok := deps[m]; !ok {
				continue
			}
			switch state[m] {
			case unvisited:
				visit(m)
			case onPath:
				i := slices.Index(path, m)
				cycles = append(cycles, rotateCycle(path[i:]))
			}
		}
		path = path[:len(path)-1]
		state[n] = done
	}
	for _, n := range names {
		if state[n] == unvisited {
			visit(n)
		}
	}
	slices.SortFunc(cycles, func(a, b []string) int { return slices.Compare(a, b) })
	return slices.CompactFunc(cycles, slices.Equal)
}

// rotateCycle starts the cycle at its smallest name and closes it: [web api] -> [api web api].
func rotateCycle(c []string) []string {
	i := slices.Index(c, slices.Min(c))
	out := append(slices.Clone(c[i:]), c[:i]...)
	return append(out, out[0])
}

// probes checks an app's readiness_probe and liveness_probe; ok says whether an attribute
// decoded (see checker.app).
func (c *checker) probes(app *App, ok func(attr string) bool) {
	for _, pb := range []struct {
		name string
		p    *Probe
	}{{"readiness_probe", app.ReadinessProbe}, {"liveness_probe", app.LivenessProbe}} {
		if pb.p != nil {
			c.probe(app, pb.name, pb.p, ok)
		}
	}
}

func (c *checker) probe(app *App, block string, p *Probe, ok func(attr string) bool) {
	attr := func(name string) string {
		if _, ok := app.Ranges[block+"."+name]; ok {
			return block + "." + name
		}
		return block
	}
	set := 0
	for _, on := range []bool{p.HTTP != "", p.TCP != "", len(p.Exec) > 0} {
		if on {
			set++
		}
	}
	if set != 1 && ok(block+".http") && ok(block+".tcp") && ok(block+".exec") {
		how := "sets none of them"
		if set > 1 {
			how = "sets more than one"
		}
		c.appError(app, block, "Invalid "+block,
			`A %s checks one thing: set exactly one of http = "/health" (or a URL), tcp = "host:port" or exec = ["cmd", "arg"]; this one %s.`, block, how)
	}
	switch {
	case p.HTTP == "":
	case strings.HasPrefix(p.HTTP, "/"):
		if strings.ContainsAny(p.HTTP, " \x00\r\n") {
			c.appError(app, attr("http"), "Invalid "+block+".http", "http %q holds a space or control character; escape it as in a URL.", p.HTTP)
		}
		if app.ExecMode != Cluster && app.Port == 0 && !validPort(app.Env["PORT"]) {
			c.appError(app, attr("http"), "Invalid "+block+".http",
				`http = %q is a path, asked on the instance's own port, but app %q has no port: set port (or env.PORT), or give a full URL such as "http://127.0.0.1:8080%s".`, p.HTTP, app.Name, p.HTTP)
		}
	default:
		u, err := url.Parse(p.HTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.appError(app, attr("http"), "Invalid "+block+".http",
				`http must be a path starting with "/" (asked on the instance's own port) or a URL such as "http://127.0.0.1:8080/health"; got %q.`, p.HTTP)
		}
	}
	if p.TCP != "" {
		host, port, err := net.SplitHostPort(p.TCP)
		if err != nil || host == "" || !validPort(port) {
			c.appError(app, attr("tcp"), "Invalid "+block+".tcp", `tcp must be "host:port" with a port from 1 to 65535, such as "127.0.0.1:5432"; got %q.`, p.TCP)
		}
	}
	if len(p.Exec) > 0 {
		if p.Exec[0] == "" {
			c.appError(app, attr("exec"), "Invalid "+block+".exec", "exec has an empty program name; its first word is the program to run.")
		}
		for _, s := range p.Exec {
			if strings.IndexByte(s, 0) >= 0 {
				c.appError(app, attr("exec"), "Invalid "+block+".exec", "exec holds a NUL byte, which no program can be given: %q.", s)
				break
			}
		}
	}
	for _, d := range []struct {
		name string
		d    Duration
		min  Duration
	}{{"interval", p.Interval, MinProbeInterval}, {"timeout", p.Timeout, 1}, {"initial_delay", p.InitialDelay, 0}} {
		if d.d < d.min {
			want := "more than 0"
			switch d.min {
			case 0:
				want = "not negative"
			case MinProbeInterval:
				want = "at least " + MinProbeInterval.String()
			}
			c.appError(app, attr(d.name), "Invalid "+block+"."+d.name, "%s must be %s; got %s.", d.name, want, d.d.D())
		}
	}
	for _, n := range []struct {
		name string
		n    int
	}{{"success_threshold", p.SuccessThreshold}, {"failure_threshold", p.FailureThreshold}} {
		if n.n < 1 {
			c.appError(app, attr(n.name), "Invalid "+block+"."+n.name, "%s is a number of checks in a row: 1 or more; got %d.", n.name, n.n)
		}
	}
}

// MinProbeInterval is the shortest interval of a probe: checks back to back would only burn CPU.
const MinProbeInterval = Duration(10 * time.Millisecond)

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}
