package export

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/eco-pm/eco/ecosystem"
)

// kubernetesNotes are the Kubernetes export's report lines, by kind.
var kubernetesNotes = map[string]string{
	"unknown":        unknownMessage,
	"name":           "%q is not a DNS name; its objects are named %q",
	"image-default":  "not set: the interpreter's official image %s runs the app, so its code must be in that image under %s (build an image FROM it and set image)",
	"memory":         "eco replaces an instance gracefully once its processes use more than %s; Kubernetes kills the container (OOM) at its memory limit",
	"balance-proxy":  "%q through eco's proxy has no equivalent: the Service spreads connections over the ready pods its own way (kube-proxy)",
	"balance-kernel": "no listening socket is passed (no LISTEN_FDS): each pod binds port %d itself",
	"handoff":        "\"handoff\" (eco passing each connection to the least busy Node instance) has no equivalent: the Service spreads connections over the ready pods its own way (kube-proxy)",
	"log-rotate":     "log rotation is per node (the kubelet's containerLogMaxSize and containerLogMaxFiles), not per app",
	"log-files":      "the output goes to the container's log (kubectl logs), not to files",
	"log-format":     "no equivalent: the container runtime timestamps each line itself (kubectl logs --timestamps)",
	"cron":           "no equivalent: nothing restarts the pods on a schedule",
	"watch":          "no equivalent: pods do not restart when files change; roll out a new image instead",
	"wait-ready":     "the app's own ready message (Node IPC or sd_notify READY=1) has no equivalent; %s",
	"listen-timeout": "a pod that never gets ready is not stopped; the rollout waits for it up to the Deployment's progressDeadlineSeconds (600s)",
	"shutdown-msg":   "no IPC channel carries the message \"shutdown\"; only the stop signal is sent",
	"stop-signal":    "%s; the app is the container's PID 1, which ignores a signal it has no handler for, so it is killed after the grace period instead",
	"kill-timeout":   "terminationGracePeriodSeconds is whole seconds: %s becomes %ds",
	"job":            "a one-shot app is a Job (restartPolicy: Never, backoffLimit: 0): it runs once, and its pod template cannot change, so a new version is run by deleting the Job and applying it again (kubectl delete job/%s)",
	"job-only":       "no equivalent for a Job, which is not rolled out and whose pods are not waited for: %s is left out",
	"restart-policy": "the kubelet restarts a container that exits, forever, with its own back-off (10s doubling up to 5m)",
	"env-name":       "variable %q %s",
	"instance-var":   "a Deployment's pods have no instance number: %s is not set",
	"increment-var":  "a Deployment's pods have no instance number to add: every pod gets %s=%s",

	"depends-on":       "no equivalent: Kubernetes starts every pod at once, in no order; %s",
	"probe-host":       "%s",
	"probe-seconds":    "Kubernetes counts probe times in whole seconds (period and timeout at least 1): %s = %s becomes %ds",
	"liveness-success": "Kubernetes requires successThreshold 1 for a liveness probe: %d becomes 1",
	"liveness-restart": "after %d failures the kubelet restarts the container in place (stop signal, then the grace period); eco starts a replacement and waits for it to be ready first",
}

// Kubernetes builds a Deployment for every app (a Job for a one-shot app) and a Service for
// every app with a port. The files are <app>-deployment.yaml (<app>-job.yaml) and
// <app>-service.yaml.
func Kubernetes(cfg *ecosystem.Config, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	r := &report{messages: kubernetesNotes}
	res := &Result{before: func(i int, _ File) string {
		if i == 0 {
			return ""
		}
		return "---\n"
	}}
	seen := map[string]string{}
	for i := range cfg.Apps {
		app := &cfg.Apps[i]
		name, err := dnsName(app.Name)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("apps %q and %q would both be named %q in Kubernetes; rename one", other, app.Name, name)
		}
		seen[name] = app.Name
		if name != app.Name {
			r.add(app, "name", "name", app.Name, name)
		}
		r.unknownAttrs(app)
		objs := []any{kubeWorkload(cfg, app, name, opts, r)}
		kinds := []string{"deployment"}
		if !app.Autorestart {
			kinds[0] = "job"
		}
		if svc := kubeService(cfg, app, name, r); svc != nil {
			objs = append(objs, svc)
			kinds = append(kinds, "service")
		}
		for j, obj := range objs {
			data, err := yaml.Marshal(obj)
			if err != nil {
				return nil, fmt.Errorf("app %q: %w", app.Name, err)
			}
			res.Files = append(res.Files, File{Name: name + "-" + kinds[j] + ".yaml", Data: data})
		}
	}
	res.Notes = r.sorted()
	return res, nil
}

func kubeLabels(cfg *ecosystem.Config, name string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": labelValue(cfg.Project)}
}

// labelValue makes a project name a label value: at most 63 characters, ending with a letter
// or digit (a project name starts with one).
func labelValue(s string) string {
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.TrimRight(s, "-_.")
}

// kubeWorkload is the app's Deployment, or its Job for a one-shot app (autorestart = false).
func kubeWorkload(cfg *ecosystem.Config, app *ecosystem.App, name string, opts Options, r *report) any {
	move := mover(cfg.Dir, opts.root())
	command, args := argv(app, move)
	image := app.Image
	if image == "" {
		image = officialImage(app)
		r.add(app, "image", "image-default", image, opts.root())
	}
	c := corev1.Container{
		Name:       name,
		Image:      image,
		Command:    kubeLiteral(command),
		Args:       kubeLiteral(args),
		WorkingDir: move(app.Cwd),
		Env:        kubeEnv(app, r),
	}
	if app.Port != 0 {
		c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(app.Port), Protocol: corev1.ProtocolTCP}}
		if app.ReadinessProbe == nil {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}}
		}
	}
	if p := app.ReadinessProbe; p != nil {
		c.ReadinessProbe = kubeProbe(app, readinessBlock, p, move, r)
	}
	if p := app.LivenessProbe; p != nil {
		c.LivenessProbe = kubeProbe(app, livenessBlock, p, move, r)
	}
	kubeDepends(cfg, app, r)
	if app.WaitReady && !app.Autorestart {
		// A Job's pods are not waited for; dependents wait for its completion.
		r.add(app, "wait_ready", "job-only", "wait_ready")
		r.addIfSet(app, "listen_timeout", "job-only", "listen_timeout")
	} else if app.WaitReady {
		how := "pods are ready once started"
		switch {
		case c.ReadinessProbe != nil && app.ReadinessProbe != nil:
			how = "readiness is the readiness_probe"
		case c.ReadinessProbe != nil:
			how = "readiness is the port accepting connections"
		}
		r.add(app, "wait_ready", "wait-ready", how)
		r.addIfSet(app, "listen_timeout", "listen-timeout")
	}
	if app.MaxMemoryRestart > 0 {
		q := resource.NewQuantity(int64(app.MaxMemoryRestart), resource.BinarySI)
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: *q}
		r.add(app, "max_memory_restart", "memory", app.MaxMemoryRestart)
	}

	// Stopping: the stop signal, then SIGKILL after kill_timeout.
	grace := int64((app.KillTimeout.D() + 999_999_999) / 1_000_000_000)
	if app.IsSet("kill_timeout") && app.KillTimeout.D()%1_000_000_000 != 0 {
		r.add(app, "kill_timeout", "kill-timeout", app.KillTimeout, grace)
	}
	sig := strings.TrimPrefix(app.StopSignal, "SIG")
	how := "Kubernetes sends SIGTERM"
	if app.StopSignal != "SIGTERM" {
		// The runtime sends SIGTERM once the hook returns: the hook sends the app's own
		// signal and waits for it to exit, within the grace period.
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
			Command: []string{"/bin/sh", "-c", "kill -s " + sig + " 1; while kill -0 1 2>/dev/null; do sleep 1; done"},
		}}}
		how = app.StopSignal + " is sent by a preStop hook (it needs /bin/sh in the image), and SIGTERM once the app exits or the grace period ends"
	}
	r.add(app, "stop_signal", "stop-signal", how)
	r.addIfSet(app, "shutdown_with_message", "shutdown-msg")

	if !app.Autorestart {
		// The restart settings do not matter to a one-shot app, under eco as in a Job.
		r.add(app, "autorestart", "job", name)
		r.addIfSet(app, "max_parallel", "job-only", "max_parallel")
	} else {
		for _, attr := range []string{"max_restarts", "min_uptime", "restart_delay", "exp_backoff_restart_delay", "stop_exit_codes"} {
			r.addIfSet(app, attr, "restart-policy")
		}
	}
	r.addIfSet(app, "cron_restart", "cron")
	if app.Watch != nil {
		r.add(app, "watch", "watch")
	}
	for _, attr := range []string{"out_file", "error_file", "log_file", "merge_logs"} {
		r.addIfSet(app, attr, "log-files")
	}
	for _, attr := range []string{"log_date_format", "log_type"} {
		r.addIfSet(app, attr, "log-format")
	}
	if rotateSet(app) {
		r.add(app, "log_rotate", "log-rotate")
	}

	labels := kubeLabels(cfg, name)
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{c},
			TerminationGracePeriodSeconds: &grace,
		},
	}
	if !app.Autorestart {
		// Each instance runs once; one that fails is not run again, as under eco.
		n := int32(app.Instances)
		template.Spec.RestartPolicy = corev1.RestartPolicyNever
		return &batchv1.Job{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: batchv1.JobSpec{
				Parallelism:  &n,
				Completions:  &n,
				BackoffLimit: ptr(int32(0)),
				Template:     template,
			},
		}
	}

	replicas := int32(app.Instances)
	surge := intstr.FromInt32(int32(app.MaxParallel))
	none := intstr.FromInt32(0)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			// As eco's rolling restart: max_parallel new pods at a time, each ready before an
			// old one stops.
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &none},
			},
			Template: template,
		},
	}
}

// kubeEnv is the container's environment, sorted by name.
func kubeEnv(app *ecosystem.App, r *report) []corev1.EnvVar {
	env := baseEnv(app)
	if app.Instances == 1 {
		// One pod is instance 0, as the only instance is under eco.
		env[app.InstanceVar] = "0"
	} else {
		r.add(app, "instance_var", "instance-var", app.InstanceVar)
		if inc := app.IncrementVar; inc != "" {
			if _, ok := env[inc]; ok {
				r.add(app, "increment_var", "increment-var", inc, env[inc])
			}
		}
	}
	var out []corev1.EnvVar
	for _, k := range sortedKeys(env) {
		switch {
		case len(validation.IsRelaxedEnvVarName(k)) > 0:
			r.add(app, "env", "env-name", k, "is left out: Kubernetes takes printable ASCII names without '='")
			continue
		case len(validation.IsEnvVarName(k)) > 0:
			r.add(app, "env", "env-name", k, "is kept, but only clusters that take relaxed variable names (Kubernetes 1.34, or the RelaxedEnvironmentVariableValidation gate) accept it")
		}
		out = append(out, corev1.EnvVar{Name: k, Value: kubeEscape(env[k])})
	}
	return out
}

// kubeEscape keeps s literal where Kubernetes expands variable references (command, args
// and env values): "$(NAME)" would become NAME's value and "$$" a single "$", so a "$"
// before "(" or "$" is doubled. eco passes them as they are.
func kubeEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '$' && i+1 < len(s) && (s[i+1] == '(' || s[i+1] == '$') {
			b.WriteByte('$')
		}
	}
	return b.String()
}

func kubeLiteral(words []string) []string {
	if words == nil {
		return nil
	}
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = kubeEscape(w)
	}
	return out
}

// kubeService is the Service of an app with a port, nil for one without.
func kubeService(cfg *ecosystem.Config, app *ecosystem.App, name string, r *report) *corev1.Service {
	if app.Port == 0 {
		return nil
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: kubeLabels(cfg, name)},
		Spec: corev1.ServiceSpec{
			Selector: kubeLabels(cfg, name),
			Ports: []corev1.ServicePort{{
				Name: "http", Protocol: corev1.ProtocolTCP,
				Port: int32(app.Port), TargetPort: intstr.FromString("http"),
			}},
		},
	}
	switch app.Balance {
	case ecosystem.IPHash:
		svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	case ecosystem.RoundRobin, ecosystem.LeastConn:
		r.add(app, "balance", "balance-proxy", string(app.Balance))
	case ecosystem.Kernel:
		r.add(app, "balance", "balance-kernel", app.Port)
	case ecosystem.Handoff:
		r.add(app, "balance", "handoff")
	}
	return svc
}
