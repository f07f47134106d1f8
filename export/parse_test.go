package export

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/nomad/api"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/yaml"

	"github.com/eco-pm/eco/ecosystem"
)

// strictKube decodes one YAML object as the API server's own decoder does with strict field
// validation: an unknown or duplicate field is an error.
func strictKube(t *testing.T, data []byte) (runtime.Object, error) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := batchv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	s := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
	obj, _, err := s.Decode(data, nil, nil)
	return obj, err
}

// strictNomad decodes a job with DisallowUnknownFields.
func strictNomad(data []byte) (*api.Job, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var job api.Job
	if err := dec.Decode(&job); err != nil {
		return nil, err
	}
	return &job, nil
}

// TestKubernetes_StrictParseBack: every object decodes strictly into its apps/v1 or core/v1
// type, serialises back to the same bytes, and is the object expected for its app.
func TestKubernetes_StrictParseBack(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			cfg := load(t, c.path, c.profile)
			res, err := Kubernetes(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			deployments, jobs, services := map[string]*appsv1.Deployment{}, map[string]*batchv1.Job{}, map[string]*corev1.Service{}
			for _, f := range res.Files {
				obj, err := strictKube(t, f.Data)
				if err != nil {
					t.Fatalf("%s: %v", f.Name, err)
				}
				back, err := yaml.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(string(f.Data), string(back)); diff != "" {
					t.Errorf("%s does not survive its own decoding (-written +decoded):\n%s", f.Name, diff)
				}
				switch o := obj.(type) {
				case *appsv1.Deployment:
					deployments[o.Name] = o
				case *batchv1.Job:
					jobs[o.Name] = o
				case *corev1.Service:
					services[o.Name] = o
				default:
					t.Errorf("%s: unexpected %T", f.Name, obj)
				}
			}
			for _, app := range cfg.Apps {
				name, _ := dnsName(app.Name)
				var pod corev1.PodTemplateSpec
				if app.Autorestart {
					d, ok := deployments[name]
					if !ok {
						t.Errorf("no Deployment %s", name)
						continue
					}
					if *d.Spec.Replicas != int32(app.Instances) {
						t.Errorf("%s: replicas %d, want %d", name, *d.Spec.Replicas, app.Instances)
					}
					pod = d.Spec.Template
				} else {
					// A one-shot app: every instance runs once, and is not run again.
					j, ok := jobs[name]
					if !ok {
						t.Errorf("no Job %s", name)
						continue
					}
					if *j.Spec.Completions != int32(app.Instances) || *j.Spec.Parallelism != int32(app.Instances) ||
						*j.Spec.BackoffLimit != 0 || j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
						t.Errorf("%s: completions %d, parallelism %d, backoffLimit %d, restartPolicy %s; want %d, %d, 0, Never",
							name, *j.Spec.Completions, *j.Spec.Parallelism, *j.Spec.BackoffLimit, j.Spec.Template.Spec.RestartPolicy, app.Instances, app.Instances)
					}
					pod = j.Spec.Template
				}
				ctr := pod.Spec.Containers[0]
				gotEnv := map[string]string{}
				for _, e := range ctr.Env {
					gotEnv[e.Name] = e.Value
				}
				for k, v := range app.Env {
					if gotEnv[k] != v {
						t.Errorf("%s: env %s = %q, want %q", name, k, gotEnv[k], v)
					}
				}
				if strings.Join(append(ctr.Command, ctr.Args...), " ") == "" {
					t.Errorf("%s: no command", name)
				}
				_, hasSvc := services[name]
				if hasSvc != (app.Port != 0) {
					t.Errorf("%s: Service %v, port %d", name, hasSvc, app.Port)
				}
				if hasSvc && (services[name].Spec.SessionAffinity == corev1.ServiceAffinityClientIP) != (app.Balance == ecosystem.IPHash) {
					t.Errorf("%s: sessionAffinity %q with balance %q", name, services[name].Spec.SessionAffinity, app.Balance)
				}
			}
		})
	}
}

// TestKubernetes_StrictDecodingRefuses proves the decoder of the test is strict: a field
// that apps/v1 or batch/v1 does not know is an error.
func TestKubernetes_StrictDecodingRefuses(t *testing.T) {
	cfg := load(t, goldenCases[0].path, "")
	res, err := Kubernetes(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tried := map[string]bool{}
	for _, f := range res.Files {
		field := map[string]string{"-deployment.yaml": "replicas", "-job.yaml": "completions"}
		for suffix, name := range field {
			if !strings.HasSuffix(f.Name, suffix) || tried[suffix] {
				continue
			}
			tried[suffix] = true
			bad := bytes.Replace(f.Data, []byte("  "+name+":"), []byte("  "+name[:len(name)-1]+": 1\n  "+name+":"), 1)
			if _, err := strictKube(t, bad); err == nil || !strings.Contains(err.Error(), name[:len(name)-1]) {
				t.Errorf("%s: unknown field decoded without error (%v):\n%s", f.Name, err, bad)
			}
		}
	}
	if len(tried) != 2 {
		t.Errorf("the example has no Deployment or no Job: %v", tried)
	}
}

// TestNomad_StrictParseBack: the job decodes into nomad/api's Job with unknown fields
// refused, serialises back to the same bytes, and has a group per app as configured.
func TestNomad_StrictParseBack(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			cfg := load(t, c.path, c.profile)
			res, err := Nomad(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != 1 {
				t.Fatalf("%d files, want the job alone", len(res.Files))
			}
			job, err := strictNomad(res.Files[0].Data)
			if err != nil {
				t.Fatal(err)
			}
			back, err := nomadJSON(job)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(res.Files[0].Data), string(back)); diff != "" {
				t.Errorf("the job does not survive its own decoding (-written +decoded):\n%s", diff)
			}
			if *job.ID != cfg.Project || *job.Type != api.JobTypeService || len(job.TaskGroups) != len(cfg.Apps) {
				t.Fatalf("job %s of type %s with %d groups, want %s, service, %d", *job.ID, *job.Type, len(job.TaskGroups), cfg.Project, len(cfg.Apps))
			}
			for i, app := range cfg.Apps {
				tg := job.TaskGroups[i]
				task := tg.Tasks[0]
				if *tg.Name != app.Name || *tg.Count != app.Instances {
					t.Errorf("group %s x%d, want %s x%d", *tg.Name, *tg.Count, app.Name, app.Instances)
				}
				if want := map[bool]string{true: "docker", false: "raw_exec"}[app.Image != ""]; task.Driver != want {
					t.Errorf("%s: driver %s, want %s", app.Name, task.Driver, want)
				}
				if *task.KillTimeout != app.KillTimeout.D() || task.KillSignal != app.StopSignal {
					t.Errorf("%s: kill %s after %s, want %s after %s", app.Name, task.KillSignal, *task.KillTimeout, app.StopSignal, app.KillTimeout)
				}
				if (len(tg.Services) == 1) != (app.Port != 0) {
					t.Errorf("%s: %d services with port %d", app.Name, len(tg.Services), app.Port)
				}
				if app.MaxMemoryRestart > 0 && *task.Resources.MemoryMaxMB != mebibytes(app.MaxMemoryRestart) {
					t.Errorf("%s: MemoryMaxMB %d for %s", app.Name, *task.Resources.MemoryMaxMB, app.MaxMemoryRestart)
				}
				for k, v := range app.Env {
					if k != "PORT" && task.Env[k] != v {
						t.Errorf("%s: env %s = %q, want %q", app.Name, k, task.Env[k], v)
					}
				}
			}
		})
	}
}

// TestNomad_StrictDecodingRefuses proves DisallowUnknownFields bites: a misspelt field is an
// error.
func TestNomad_StrictDecodingRefuses(t *testing.T) {
	cfg := load(t, goldenCases[0].path, "")
	res, err := Nomad(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(res.Files[0].Data, []byte(`"Count":`), []byte(`"Cuont": 1, "Count":`), 1)
	if _, err := strictNomad(bad); err == nil || !strings.Contains(err.Error(), "Cuont") {
		t.Errorf("unknown field decoded without error: %v", err)
	}
}
