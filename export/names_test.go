package export

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// oddNames is a file whose project and app names are valid for eco but not as they are for
// Kubernetes: upper case, dots, underscores, a leading digit, over 63 characters, a trailing
// dash.
var oddNames = `project = "` + strings.Repeat("p", 70) + `-"
app "API.v2" {
  command = ["/bin/sh", "-c", "exec sleep 1000"]
  port    = 3000
}
app "9_lives" {
  command = ["/bin/sh", "-c", "exec sleep 1000"]
}
app "` + strings.Repeat("long", 20) + `" {
  command   = ["/bin/sh", "-c", "exec sleep 1000"]
  exec_mode = "cluster"
  port      = 3001
}
`

// TestExport_OddNames: the names eco accepts make valid object names, label values and unit
// names on every engine, and renamed apps are reported.
func TestExport_OddNames(t *testing.T) {
	t.Run("kubernetes", func(t *testing.T) {
		res := exportSource(t, "kubernetes", oddNames)
		for _, f := range res.Files {
			obj, err := strictKube(t, f.Data)
			if err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			var meta metav1.ObjectMeta
			switch o := obj.(type) {
			case *appsv1.Deployment:
				meta = o.ObjectMeta
			case *corev1.Service:
				meta = o.ObjectMeta
			}
			// A Service's name is a DNS-1035 label, stricter than a Deployment's.
			if errs := validation.IsDNS1035Label(meta.Name); len(errs) > 0 {
				t.Errorf("%s: name %q: %v", f.Name, meta.Name, errs)
			}
			for k, v := range meta.Labels {
				if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
					t.Errorf("%s: label %s=%q: %v", f.Name, k, v, errs)
				}
			}
		}
		renamed := 0
		for _, n := range res.Notes {
			if n.Kind == "name" {
				renamed++
			}
		}
		if renamed != 3 {
			t.Errorf("%d apps reported renamed, want 3:\n%s", renamed, notesText(res.Notes))
		}
	})
	t.Run("nomad", func(t *testing.T) {
		res := exportSource(t, "nomad", oddNames)
		job, err := strictNomad(res.Files[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range job.TaskGroups {
			for _, s := range tg.Services {
				if errs := validation.IsDNS1123Label(s.Name); len(errs) > 0 {
					t.Errorf("service %q: %v", s.Name, errs)
				}
			}
		}
	})
	t.Run("systemd", func(t *testing.T) {
		res := exportSource(t, "systemd", oddNames)
		if out, err := verifyUnits(t, res.Files); err != nil || out != "" {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}

// TestKubernetes_NameClash: two apps whose names become the same object name are an error,
// not one object overwriting the other.
func TestKubernetes_NameClash(t *testing.T) {
	path := t.TempDir() + "/ecosystem.hcl"
	src := "app \"web_api\" {\n  script = \"a.js\"\n}\napp \"web-api\" {\n  script = \"b.js\"\n}\n"
	if err := writeFile(path, src); err != nil {
		t.Fatal(err)
	}
	_, err := Kubernetes(load(t, path, ""), Options{})
	if err == nil || !strings.Contains(err.Error(), `"web-api"`) {
		t.Errorf("err = %v, want the clash named", err)
	}
}
