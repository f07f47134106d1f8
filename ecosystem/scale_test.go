package ecosystem

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestSetInstances(t *testing.T) {
	src := `project = "shop"

# The API.
app "api" {
  script    = "server.js" # entry point
  instances = 2           # two is enough at night
  env       = { A = "1" }
}

app "worker" {
  script = "worker.js"
  // no instances yet
}
`
	out, found, err := SetInstances("e.hcl", []byte(src), "api", cty.NumberIntVal(4))
	if err != nil || !found {
		t.Fatal(found, err)
	}
	want := strings.Replace(src, "instances = 2 ", "instances = 4 ", 1)
	if string(out) != want {
		t.Errorf("api:\n%s\nwant:\n%s", out, want)
	}
	out, found, err = SetInstances("e.hcl", []byte(src), "worker", cty.StringVal("max"))
	if err != nil || !found {
		t.Fatal(found, err)
	}
	if want := strings.Replace(src, "  // no instances yet\n}", "  // no instances yet\n  instances = \"max\"\n}", 1); string(out) != want {
		t.Errorf("worker:\n%s", out)
	}
	if out, _, err := SetInstances("e.hcl", []byte("app \"x\" { script = \"x.js\" }\n"), "x", cty.NumberIntVal(5)); err == nil {
		t.Errorf("one-line block edited into %q", out)
	}
	if out, _, err := SetInstances("e.hcl", []byte("app \"x\" {\n    script = \"x.js\"\n  }\n"), "x", cty.NumberIntVal(5)); err != nil || string(out) != "app \"x\" {\n    script = \"x.js\"\n    instances = 5\n  }\n" {
		t.Errorf("indented block: %q %v", out, err)
	}
	if _, found, _ := SetInstances("e.hcl", []byte(src), "nope", cty.NumberIntVal(1)); found {
		t.Error("found an app that is not there")
	}
	_, _, err = SetInstances("e.hcl", []byte("app \"a\" {\n  instances = var.n\n}\n"), "a", cty.NumberIntVal(1))
	if err == nil || !strings.Contains(err.Error(), "e.hcl:2:15: instances of app \"a\" is an expression (var.n)") {
		t.Errorf("expression: %v", err)
	}
	if _, _, err := SetInstances("e.hcl", []byte("app \"a\" {\n"), "a", cty.NumberIntVal(1)); err == nil {
		t.Error("a broken file was edited")
	}
}

func TestWriteInstances_Folder(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.hcl"), []byte("app \"a\" {\n  script = \"a.js\"\n}\n"), 0o640)
	os.WriteFile(filepath.Join(dir, "b.hcl"), []byte("# b\napp \"b\" {\n  script = \"b.js\"\n  instances = 1\n}\n"), 0o640)
	file, err := WriteInstances(dir, "b", cty.NumberIntVal(3))
	if err != nil || file != filepath.Join(dir, "b.hcl") {
		t.Fatal(file, err)
	}
	b, _ := os.ReadFile(file)
	if string(b) != "# b\napp \"b\" {\n  script = \"b.js\"\n  instances = 3\n}\n" {
		t.Errorf("b.hcl:\n%s", b)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode())
	}
	if _, err := WriteInstances(dir, "c", cty.NumberIntVal(3)); err == nil {
		t.Error("no error for a missing app")
	}
}
