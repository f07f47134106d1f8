package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/eco-pm/eco/ecosystem"
)

// nomadNotes are the Nomad export's report lines, by kind.
var nomadNotes = map[string]string{
	"unknown":         unknownMessage,
	"name":            "%q is not a DNS name; its service is named %q",
	"raw-exec":        "not set: the task runs with the raw_exec driver (enable it on the clients), on the client's host, so the code and interpreter must be there at the same paths",
	"memory":          "eco replaces an instance gracefully once its processes use more than %s; Nomad kills the task (OOM) at %d MB",
	"memory-default":  "not set: Nomad reserves 300 MB for the task, and that is also its hard memory limit (eco sets none)",
	"port":            "%s; Nomad registers it in the service %q, and port %d is for a load balancer in front",
	"balance-proxy":   "%q through eco's proxy has no equivalent: Nomad has no load balancer; one in front of the service (Traefik, Fabio, Consul) spreads connections",
	"balance-kernel":  "no listening socket is passed (no LISTEN_FDS): each allocation binds its port itself",
	"handoff":         "\"handoff\" (eco passing each connection to the least busy Node instance) has no equivalent: Nomad has no load balancer; one in front of the service (Traefik, Fabio, Consul) spreads connections",
	"log-rotate":      "Nomad keeps %d files of %d MB per stream; max_age and compress have no equivalent, and keeping every file (max_files = 0) is not possible",
	"log-files":       "the output goes to the allocation's logs (nomad alloc logs), not to files",
	"log-format":      "no equivalent: Nomad's logs hold the output as it is",
	"cron":            "no equivalent: nothing restarts the allocations on a schedule",
	"watch":           "no equivalent: allocations do not restart when files change",
	"wait-ready":      "the app's own ready message (Node IPC or sd_notify READY=1) has no equivalent; %s",
	"listen-timeout":  "an allocation that never gets healthy is marked unhealthy after the update's healthy_deadline (5m)",
	"shutdown-msg":    "no IPC channel carries the message \"shutdown\"; only the kill signal is sent",
	"restart-policy":  "Nomad allows %d restarts within %s, then fails the allocation and reschedules it; eco counts unstable restarts in a row and then gives up",
	"restart-backoff": "Nomad waits a fixed delay between restarts; a growing delay has no equivalent",
	"stop-exit-codes": "Nomad restarts the task whatever its exit code",
	"interpolation":   "%q holds ${...}, which Nomad replaces with the value of its own variable of that name",
	"kill-timeout":    "Nomad clients cap kill_timeout at their max_kill_timeout, 30s unless raised",
	"increment-var":   "Nomad cannot add the allocation's index to a variable: every allocation gets %s=%s",

	"one-shot":         "a service job expects its tasks to keep running: this one is neither restarted nor rescheduled when it exits, but even an exit 0 counts as a failure of its allocation; a one-shot app belongs in a batch job of its own (type = \"batch\")",
	"depends-on":       "no equivalent: Nomad starts a job's groups at once, in no order; %s",
	"probe-exec":       "Nomad's own service checks are http and tcp; a script check needs Consul (provider = \"consul\"): left out",
	"probe-host":       "Nomad checks each allocation on the service's port, where eco asks %s (through eco's proxy when the app has one)",
	"probe-target":     "Nomad checks only the service's own port, not %s:%d: left out",
	"probe-no-service": "the app has no port, so no service holds the check: left out",
	"probe-min":        "Nomad takes 1s at least: %s = %s becomes 1s",
	"probe-delay":      "no equivalent: Nomad checks a service from its start (only check_restart has a grace)",
	"probe-threshold":  "Nomad's own checks change state on one result: %s = %d has no equivalent",
	"liveness-restart": "after %d failures Nomad restarts the task in place (check_restart, then the group's restart policy); eco starts a replacement and waits for it to be ready first",
}

// nomadPortLabel names the port of an app in its group's network.
const nomadPortLabel = "http"

// Nomad builds one service job, named after the project, with a group per app. The file is
// <project>.nomad.json, the JSON that nomad job run -json takes.
func Nomad(cfg *ecosystem.Config, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	r := &report{messages: nomadNotes}
	job := &api.Job{ID: ptr(cfg.Project), Name: ptr(cfg.Project), Type: ptr(api.JobTypeService)}
	for i := range cfg.Apps {
		r.unknownAttrs(&cfg.Apps[i])
		tg, err := nomadGroup(cfg, &cfg.Apps[i], opts, r)
		if err != nil {
			return nil, err
		}
		job.TaskGroups = append(job.TaskGroups, tg)
	}
	data, err := nomadJSON(job)
	if err != nil {
		return nil, err
	}
	return &Result{Files: []File{{Name: cfg.Project + ".nomad.json", Data: data}}, Notes: r.sorted()}, nil
}

func nomadGroup(cfg *ecosystem.Config, app *ecosystem.App, opts Options, r *report) (*api.TaskGroup, error) {
	task := &api.Task{
		Name:        app.Name,
		Env:         baseEnv(app),
		KillTimeout: ptr(app.KillTimeout.D()),
		KillSignal:  app.StopSignal,
	}
	tg := &api.TaskGroup{
		Name:   ptr(app.Name),
		Count:  ptr(app.Instances),
		Tasks:  []*api.Task{task},
		Update: &api.UpdateStrategy{MaxParallel: ptr(app.MaxParallel)},
	}

	// What runs, and where.
	if app.Image != "" {
		move := mover(cfg.Dir, opts.root())
		command, args := argv(app, move)
		task.Driver = "docker"
		task.Config = map[string]any{
			"image":    app.Image,
			"command":  command[0],
			"args":     append(command[1:], args...),
			"work_dir": move(app.Cwd),
		}
		if app.Port != 0 {
			task.Config["ports"] = []string{nomadPortLabel}
		}
	} else {
		// raw_exec has no working directory of its own: a shell enters cwd, then becomes
		// the app.
		command, args := argv(app, func(p string) string { return p })
		task.Driver = "raw_exec"
		task.Config = map[string]any{
			"command": "/bin/sh",
			"args":    append(append([]string{"-c", `cd "$0" && exec "$@"`, app.Cwd}, command...), args...),
		}
		r.add(app, "image", "raw-exec")
	}

	// Nomad interpolates ${...} in args and env values; eco passes them as they are.
	for _, attr := range []struct {
		name   string
		values []string
	}{{"command", app.Command}, {"args", app.Args}, {"node_args", app.NodeArgs}, {"env", mapValues(app.Env)}} {
		for _, v := range attr.values {
			if strings.Contains(v, "${") {
				r.add(app, attr.name, "interpolation", v)
				break
			}
		}
	}

	// Instances: the allocation's index is the instance number.
	task.Env[app.InstanceVar] = "${NOMAD_ALLOC_INDEX}"
	if inc := app.IncrementVar; inc != "" && app.Instances > 1 {
		if v, ok := task.Env[inc]; ok {
			r.add(app, "increment_var", "increment-var", inc, v)
		}
	}

	// The port: a port Nomad picks on the host, registered in a service with a check.
	if app.Port != 0 {
		svc, err := dnsName(app.Name)
		if err != nil {
			return nil, err
		}
		if svc != app.Name {
			r.add(app, "name", "name", app.Name, svc)
		}
		port := api.Port{Label: nomadPortLabel}
		how := "each allocation listens on a port Nomad picks, given in PORT"
		if task.Driver == "docker" {
			port.To = app.Port
			how = fmt.Sprintf("each allocation listens on %d in its container, which Nomad maps to a port it picks on the host", app.Port)
		} else {
			task.Env["PORT"] = "${NOMAD_PORT_" + nomadPortLabel + "}"
		}
		tg.Networks = []*api.NetworkResource{{DynamicPorts: []api.Port{port}}}
		tg.Services = []*api.Service{{
			Name: svc, PortLabel: nomadPortLabel, Provider: "nomad",
			Checks: nomadChecks(app, svc, r),
		}}
		r.add(app, "port", "port", how, svc, app.Port)
		switch app.Balance {
		case ecosystem.RoundRobin, ecosystem.LeastConn, ecosystem.IPHash:
			r.add(app, "balance", "balance-proxy", string(app.Balance))
		case ecosystem.Kernel:
			r.add(app, "balance", "balance-kernel")
		case ecosystem.Handoff:
			r.add(app, "balance", "handoff")
		}
	} else {
		for _, pb := range probes(app) {
			r.add(app, pb.block, "probe-no-service")
		}
	}
	nomadDepends(cfg, app, r)
	if app.WaitReady {
		how := "the task is healthy once it runs"
		switch {
		case app.Port != 0 && app.ReadinessProbe != nil:
			how = "health is the service's checks"
		case app.Port != 0:
			how = "health is the service's TCP check"
		}
		r.add(app, "wait_ready", "wait-ready", how)
		r.addIfSet(app, "listen_timeout", "listen-timeout")
	}
	r.addIfSet(app, "shutdown_with_message", "shutdown-msg")
	if app.KillTimeout.D() > 30*time.Second {
		r.add(app, "kill_timeout", "kill-timeout")
	}

	// Memory.
	if app.MaxMemoryRestart > 0 {
		mb := mebibytes(app.MaxMemoryRestart)
		task.Resources = &api.Resources{MemoryMB: ptr(mb), MemoryMaxMB: ptr(mb)}
		r.add(app, "max_memory_restart", "memory", app.MaxMemoryRestart, mb)
	} else {
		r.add(app, "max_memory_restart", "memory-default")
	}

	// Restarts.
	if !app.Autorestart {
		r.add(app, "autorestart", "one-shot")
		tg.RestartPolicy = &api.RestartPolicy{Attempts: ptr(0), Mode: ptr(api.RestartPolicyModeFail)}
		tg.ReschedulePolicy = &api.ReschedulePolicy{Attempts: ptr(0), Unlimited: ptr(false)}
	} else {
		// The shortest time in which max_restarts unstable restarts can happen; Nomad wants 5s
		// at least.
		interval := max(5*time.Second, time.Duration(app.MaxRestarts)*(app.MinUptime.D()+app.RestartDelay.D()))
		tg.RestartPolicy = &api.RestartPolicy{
			Attempts: ptr(app.MaxRestarts), Interval: ptr(interval),
			Delay: ptr(app.RestartDelay.D()), Mode: ptr(api.RestartPolicyModeFail),
		}
		if app.IsSet("max_restarts") || app.IsSet("min_uptime") {
			attr := "max_restarts"
			if !app.IsSet(attr) {
				attr = "min_uptime"
			}
			r.add(app, attr, "restart-policy", app.MaxRestarts, ecosystem.Duration(interval))
		}
		r.addIfSet(app, "exp_backoff_restart_delay", "restart-backoff")
		r.addIfSet(app, "stop_exit_codes", "stop-exit-codes")
	}
	r.addIfSet(app, "cron_restart", "cron")
	if app.Watch != nil {
		r.add(app, "watch", "watch")
	}

	// Logs.
	files := max(app.LogRotate.MaxFiles, 1)
	sizeMB := max(mebibytes(app.LogRotate.MaxSize), 1)
	task.LogConfig = &api.LogConfig{MaxFiles: ptr(files), MaxFileSizeMB: ptr(sizeMB)}
	// The logs live on the allocation's disk, which must be larger than them (both streams).
	tg.EphemeralDisk = &api.EphemeralDisk{SizeMB: ptr(2*files*sizeMB + 300)}
	if app.IsSet("log_rotate.max_age") || app.IsSet("log_rotate.compress") || app.LogRotate.MaxFiles == 0 {
		r.add(app, "log_rotate", "log-rotate", files, sizeMB)
	}
	for _, attr := range []string{"out_file", "error_file", "log_file", "merge_logs"} {
		r.addIfSet(app, attr, "log-files")
	}
	for _, attr := range []string{"log_date_format", "log_type"} {
		r.addIfSet(app, attr, "log-format")
	}
	return tg, nil
}

// nomadJSON writes the job as nomad job run -json reads it, without the fields that say
// nothing: null ones, and zero values of fields that are not pointers (a pointer's zero, such
// as restart Attempts 0, is kept: it is set on purpose).
func nomadJSON(job *api.Job) ([]byte, error) {
	raw, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	prune(reflect.ValueOf(job), v)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// prune removes from j, the JSON form of gv, the members that are null or the zero value of
// a field that is not a pointer, a map or a slice.
func prune(gv reflect.Value, j any) {
	for gv.Kind() == reflect.Pointer || gv.Kind() == reflect.Interface {
		if gv.IsNil() {
			return
		}
		gv = gv.Elem()
	}
	switch gv.Kind() {
	case reflect.Struct:
		obj, ok := j.(map[string]any)
		if !ok {
			return
		}
		t := gv.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" && tag != "-" {
				name = tag
			}
			e, ok := obj[name]
			if !ok {
				continue
			}
			fv := gv.Field(i)
			switch {
			case e == nil:
				delete(obj, name)
			case fv.Kind() != reflect.Pointer && fv.Kind() != reflect.Interface && fv.Kind() != reflect.Map && fv.Kind() != reflect.Slice && fv.IsZero():
				delete(obj, name)
			default:
				prune(fv, e)
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := j.([]any)
		if !ok || len(arr) != gv.Len() {
			return
		}
		for i := range arr {
			prune(gv.Index(i), arr[i])
		}
	case reflect.Map:
		obj, ok := j.(map[string]any)
		if !ok {
			return
		}
		iter := gv.MapRange()
		for iter.Next() {
			if k, ok := iter.Key().Interface().(string); ok {
				if e, ok := obj[k]; ok && e != nil {
					prune(iter.Value(), e)
				}
			}
		}
	}
}

// mapValues returns m's values, ordered by key.
func mapValues(m map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

func ptr[T any](v T) *T { return &v }
