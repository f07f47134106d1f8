package export

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/nomad/api"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// probesApp has a service with both probes and an app without a port whose probes are a
// command and a host elsewhere.
const probesApp = `project = "p"
app "web" {
  script    = "s.js"
  port      = 3000
  instances = 2
  readiness_probe {
    http              = "/health"
    interval          = "5s"
    timeout           = "2s"
    initial_delay     = "1s"
    success_threshold = 2
    failure_threshold = 4
  }
  liveness_probe {
    tcp               = "127.0.0.1:3000"
    initial_delay     = "7s"
    success_threshold = 3
    failure_threshold = 6
  }
}
app "job" {
  script = "j.sh"
  readiness_probe {
    http = "https://db.example.com:8443/ok?deep=1"
  }
  liveness_probe {
    exec = ["./check.sh", "-q"]
  }
}
`

// TestKubernetes_Probes: the probes become the container's, with their settings; a path is
// asked on the app's named port; a liveness successThreshold other than 1 (which the API
// server refuses) becomes 1; a probe replaces the default readiness of the port.
func TestKubernetes_Probes(t *testing.T) {
	res := exportSource(t, "kubernetes", probesApp)
	containers := map[string]corev1.Container{}
	for _, f := range res.Files {
		if !strings.HasSuffix(f.Name, "-deployment.yaml") {
			continue
		}
		var d appsv1.Deployment
		if err := yaml.Unmarshal(f.Data, &d); err != nil {
			t.Fatal(err)
		}
		containers[d.Name] = d.Spec.Template.Spec.Containers[0]
	}
	want := map[string][2]*corev1.Probe{
		"web": {
			{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
				PeriodSeconds: 5, TimeoutSeconds: 2, InitialDelaySeconds: 1, SuccessThreshold: 2, FailureThreshold: 4},
			{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}},
				PeriodSeconds: 10, TimeoutSeconds: 1, InitialDelaySeconds: 7, SuccessThreshold: 1, FailureThreshold: 6},
		},
		"job": {
			{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "db.example.com", Path: "/ok?deep=1", Port: intstr.FromInt32(8443), Scheme: corev1.URISchemeHTTPS}},
				PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
			{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"./check.sh", "-q"}}},
				PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
		},
	}
	for name, w := range want {
		c := containers[name]
		if diff := cmp.Diff(w[0], c.ReadinessProbe); diff != "" {
			t.Errorf("%s: readinessProbe (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(w[1], c.LivenessProbe); diff != "" {
			t.Errorf("%s: livenessProbe (-want +got):\n%s", name, diff)
		}
	}
	kinds := map[string]bool{}
	for _, n := range res.Notes {
		kinds[n.App+" "+n.Attr+" "+n.Kind] = true
	}
	for _, k := range []string{
		"web liveness_probe.success_threshold liveness-success",
		"web liveness_probe liveness-restart",
		"web liveness_probe.tcp probe-host",
		"job readiness_probe.http probe-host",
	} {
		if !kinds[k] {
			t.Errorf("no note %q; report:\n%s", k, notesText(res.Notes))
		}
	}
}

// TestNomad_Checks: a probe on the app's own port becomes a check of its service, the
// liveness probe's with check_restart (limit = failure_threshold, grace = initial_delay);
// what Nomad's own checks cannot do (a command, another host) is left out and reported, and
// the port's TCP check stands in for a readiness probe left out.
func TestNomad_Checks(t *testing.T) {
	src := probesApp + `app "other" {
  script = "o.js"
  port   = 4000
  readiness_probe {
    exec = ["true"]
  }
  liveness_probe {
    tcp = "db:5432"
  }
}
`
	res := exportSource(t, "nomad", src)
	var job api.Job
	if err := json.Unmarshal(res.Files[0].Data, &job); err != nil {
		t.Fatal(err)
	}
	checks := map[string][]api.ServiceCheck{}
	for _, tg := range job.TaskGroups {
		for _, s := range tg.Services {
			checks[*tg.Name] = s.Checks
		}
	}
	want := map[string][]api.ServiceCheck{
		"web": {
			{Name: "web ready", Type: "http", Path: "/health", Protocol: "http", Interval: 5 * time.Second, Timeout: 2 * time.Second},
			{Name: "web alive", Type: "tcp", TaskName: "web", Interval: 10 * time.Second, Timeout: time.Second,
				CheckRestart: &api.CheckRestart{Limit: 6, Grace: ptr(7 * time.Second)}},
		},
		"other": {
			{Name: "other accepts", Type: "tcp", Interval: 10 * time.Second, Timeout: 2 * time.Second},
		},
	}
	if diff := cmp.Diff(want, checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	kinds := map[string]bool{}
	for _, n := range res.Notes {
		kinds[n.App+" "+n.Attr+" "+n.Kind] = true
	}
	for _, k := range []string{
		"web readiness_probe.initial_delay probe-delay",
		"web readiness_probe.failure_threshold probe-threshold",
		"web readiness_probe.success_threshold probe-threshold",
		"web liveness_probe.success_threshold probe-threshold",
		"web liveness_probe liveness-restart",
		"job readiness_probe probe-no-service",
		"job liveness_probe probe-no-service",
		"other readiness_probe.exec probe-exec",
		"other liveness_probe.tcp probe-target",
	} {
		if !kinds[k] {
			t.Errorf("no note %q; report:\n%s", k, notesText(res.Notes))
		}
	}
}

// TestSystemd_DependsOn: an app requires and comes after every instance of each dependency;
// a one-shot dependency is Type=oneshot with RemainAfterExit, so the app starts once it has
// exited 0. systemd-analyze verify accepts the units, and refuses them without the
// dependency's unit (the check is not vacuous).
func TestSystemd_DependsOn(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []string{"db.sh", "migrate.sh", "web.sh"} {
		writeApp(t, dir, s)
	}
	src := `project = "shop"
app "db" {
  script    = "db.sh"
  instances = 2
}
app "migrate" {
  script      = "migrate.sh"
  autorestart = false
  depends_on  = ["db"]
}
app "web" {
  script     = "web.sh"
  depends_on = ["migrate", "db"]
}
`
	path := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Systemd(load(t, path, ""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]string{}
	for _, f := range res.Files {
		units[f.Name] = string(f.Data)
	}
	for unit, lines := range map[string][]string{
		"shop-web@.service": {
			"\nRequires=shop-migrate@0.service shop-db@0.service shop-db@1.service\n",
			"\nAfter=shop-migrate@0.service shop-db@0.service shop-db@1.service\n",
			"\nType=exec\n",
		},
		"shop-migrate@.service": {
			"\nRequires=shop-db@0.service shop-db@1.service\n",
			"\nType=oneshot\nRemainAfterExit=yes\n",
			"\nRestart=no\n",
		},
	} {
		for _, l := range lines {
			if !strings.Contains(units[unit], l) {
				t.Errorf("%s lacks %q:\n%s", unit, strings.TrimSpace(l), units[unit])
			}
		}
	}
	if strings.Contains(units["shop-db@.service"], "Requires=") {
		t.Errorf("db depends on nothing:\n%s", units["shop-db@.service"])
	}
	if out, err := verifyUnits(t, res.Files); err != nil || out != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	var without []File
	for _, f := range res.Files {
		if f.Name != "shop-db@.service" {
			without = append(without, f)
		}
	}
	if out, err := verifyUnits(t, without); err == nil || !strings.Contains(out, "Unit shop-db@") {
		t.Errorf("systemd-analyze verify without the dependency's unit: %v\n%s", err, out)
	}
}

// TestKubernetes_ProbesRun does what the kubelet would with the container's probes, on this
// machine with --root at the configuration's folder: the exec probe runs in the container's
// workingDir (it passes only once a file exists there), and the httpGet probe, its named
// port resolved from the container's ports, reaches the app's server on the pod's address
// (here 127.0.0.1).
func TestKubernetes_ProbesRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
		}
	})}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-served })
	port := ln.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "work", "check.sh"), []byte("#!/bin/sh\ntest -f ready.flag\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`project = "run"
app "web" {
  command = ["/bin/sh", "-c", "exec sleep 1000"]
  cwd     = "work"
  port    = %d
  readiness_probe {
    http = "/health"
  }
  liveness_probe {
    exec = [%q]
  }
}
`, port, filepath.Join(dir, "work", "check.sh"))
	path := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := load(t, path, "")
	res, err := Kubernetes(cfg, Options{Root: cfg.Dir})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := strictKube(t, res.Files[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	c := obj.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]

	probe := func() error {
		cmd := exec.Command(c.LivenessProbe.Exec.Command[0], c.LivenessProbe.Exec.Command[1:]...)
		cmd.Dir = c.WorkingDir
		return cmd.Run()
	}
	if err := probe(); err == nil {
		t.Fatal("the exec probe passed before its file exists")
	}
	if err := os.WriteFile(filepath.Join(dir, "work", "ready.flag"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := probe(); err != nil {
		t.Fatalf("the exec probe in workingDir %s: %v", c.WorkingDir, err)
	}

	get := c.ReadinessProbe.HTTPGet
	target := get.Port.IntValue()
	for _, p := range c.Ports {
		if get.Port.Type == intstr.String && p.Name == get.Port.StrVal {
			target = int(p.ContainerPort)
		}
	}
	resp, err := http.Get(fmt.Sprintf("%s://127.0.0.1:%d%s", strings.ToLower(string(get.Scheme)), target, get.Path))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s on port %d: %s", get.Path, target, resp.Status)
	}
}
