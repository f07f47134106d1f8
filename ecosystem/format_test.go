package ecosystem

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{
			name: "aligns equals in an app block",
			src: `app "api" {
script = "./server.js"
    instances="max"
  max_memory_restart   =   "1G"
}
`,
			want: `app "api" {
  script             = "./server.js"
  instances          = "max"
  max_memory_restart = "1G"
}
`,
		},
		{
			name: "keeps comments",
			src: `# The API, one per CPU.
app "api" {
  script = "./server.js" # entry point
  // cluster mode shares the port
  instances   = "max"
  /* restart when it grows */
  max_memory_restart="1G"
}
`,
			want: `# The API, one per CPU.
app "api" {
  script = "./server.js" # entry point
  // cluster mode shares the port
  instances = "max"
  /* restart when it grows */
  max_memory_restart = "1G"
}
`,
		},
		{
			name: "nested block and object",
			src: `app "web" {
script = "web.js"
env = {
NODE_ENV = "production"
PORT = 3000
}
log_rotate {
max_size = "10M"
max_files = 5
}
}
`,
			want: `app "web" {
  script = "web.js"
  env = {
    NODE_ENV = "production"
    PORT     = 3000
  }
  log_rotate {
    max_size  = "10M"
    max_files = 5
  }
}
`,
		},
		{
			name: "already formatted",
			src: `app "a" {
  script = "a.js"
}
`,
			want: `app "a" {
  script = "a.js"
}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, diags := Format([]byte(tt.src), "ecosystem.hcl")
			if len(diags) > 0 {
				t.Fatalf("diagnostics: %v", diags)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Format (-want +got):\n%s", diff)
			}
			again, diags := Format(got, "ecosystem.hcl")
			if len(diags) > 0 {
				t.Fatalf("diagnostics on the formatted text: %v", diags)
			}
			if diff := cmp.Diff(string(got), string(again)); diff != "" {
				t.Errorf("Format is not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

func TestFormat_Invalid(t *testing.T) {
	src := `app "a" {
  script = "a.js"
  env = { A = }
}
`
	got, diags := Format([]byte(src), "broken.hcl")
	if got != nil {
		t.Errorf("Format returned %q for a file that does not parse, want nil", got)
	}
	if !diags.HasErrors() {
		t.Fatalf("no error diagnostics: %v", diags)
	}
	d := diags[0]
	if d.Subject == nil {
		t.Fatalf("diagnostic %v has no subject", d)
	}
	type where struct {
		Summary, File string
		Line          int
	}
	want := where{Summary: "Invalid expression", File: "broken.hcl", Line: 3}
	if diff := cmp.Diff(want, where{d.Summary, d.Subject.Filename, d.Subject.Start.Line}); diff != "" {
		t.Errorf("first diagnostic (-want +got):\n%s", diff)
	}
}
