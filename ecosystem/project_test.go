package ecosystem

import "testing"

func TestDefaultProject(t *testing.T) {
	for dir, want := range map[string]string{
		"/srv/shop":      "shop",
		"/home/a/My App": "My-App",
		"/x/.hidden":     "hidden",
		"/x/a..b":        "a-b",
		"/x/__":          "default",
		"/":              "default",
		"/x/café":        "caf--",
	} {
		if got := defaultProject(dir); got != want || NameProblem(got) != "" {
			t.Errorf("defaultProject(%q) = %q (problem %q), want %q", dir, got, NameProblem(got), want)
		}
	}
}
