package ecosystem_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// goodApp is an app as decode makes it, without ranges: what a client sends as JSON.
func goodApp(name string) ecosystem.App {
	return ecosystem.App{
		Name: name, Command: []string{"/bin/sleep", "60"}, Cwd: "/tmp", Instances: 1,
		ExecMode: ecosystem.Fork, InstanceVar: "NODE_APP_INSTANCE", MaxParallel: 1, StopSignal: "SIGINT",
		Autorestart: true, MaxRestarts: 16, KillTimeout: ecosystem.Duration(time.Second), LogType: "text",
	}
}

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*ecosystem.Config)
		// want are the summaries, each of which must name the app (no ranges here).
		want []string
	}{
		{"valid", func(*ecosystem.Config) {}, nil},
		{"path name", func(c *ecosystem.Config) { c.Apps[0].Name = "../../x" }, []string{`App "../../x": invalid app name`}},
		{"empty name", func(c *ecosystem.Config) { c.Apps[0].Name = "" }, []string{`App "": invalid app name`}},
		{"control character", func(c *ecosystem.Config) { c.Apps[0].Name = "a\x1bb" }, []string{`App "a\x1bb": invalid app name`}},
		{"leading dot", func(c *ecosystem.Config) { c.Apps[0].Name = ".hidden" }, []string{`App ".hidden": invalid app name`}},
		{"long name", func(c *ecosystem.Config) { c.Apps[0].Name = strings.Repeat("a", 101) }, []string{`App "` + strings.Repeat("a", 101) + `": invalid app name`}},
		{"all", func(c *ecosystem.Config) { c.Apps[0].Name = "all" }, []string{`App "all": invalid app name`}},
		{"project", func(c *ecosystem.Config) { c.Project = "a/b" }, []string{"Invalid project name"}},
		{"negative instances", func(c *ecosystem.Config) { c.Apps[0].Instances = -1 }, []string{`App "web": invalid instances`}},
		{"too many instances", func(c *ecosystem.Config) { c.Apps[0].Instances = 100000 }, []string{`App "web": too many instances`}},
		{"raised limit", func(c *ecosystem.Config) { c.Apps[0].Instances, c.Apps[0].MaxInstances = 500, 500 }, nil},
		{"port", func(c *ecosystem.Config) { c.Apps[0].Port = 70000 }, []string{`App "web": invalid port`}},
		{"exec_mode", func(c *ecosystem.Config) { c.Apps[0].ExecMode = "weird" }, []string{`App "web": invalid value for exec_mode`}},
		{"cluster without port", func(c *ecosystem.Config) { c.Apps[0].ExecMode = ecosystem.Cluster }, []string{`App "web": missing port for cluster mode`}},
		{"balance", func(c *ecosystem.Config) { c.Apps[0].Balance = "random" }, []string{`App "web": invalid value for balance`}},
		{"log_type", func(c *ecosystem.Config) { c.Apps[0].LogType = "" }, []string{`App "web": invalid value for log_type`}},
		{"signal", func(c *ecosystem.Config) { c.Apps[0].StopSignal = "SIGBOGUS" }, []string{`App "web": invalid signal`}},
		{"empty command", func(c *ecosystem.Config) { c.Apps[0].Command = nil }, []string{`App "web": missing script or command`}},
		{"empty program", func(c *ecosystem.Config) { c.Apps[0].Command = []string{""} }, []string{`App "web": missing script or command`}},
		{"both", func(c *ecosystem.Config) { c.Apps[0].Script = "/a.js" }, []string{`App "web": conflicting script and command`}},
		{"relative cwd", func(c *ecosystem.Config) { c.Apps[0].Cwd = "x" }, []string{`App "web": invalid cwd`}},
		{"relative log", func(c *ecosystem.Config) { c.Apps[0].OutFile = "../x.log" }, []string{`App "web": invalid out_file`}},
		{"negative duration", func(c *ecosystem.Config) { c.Apps[0].KillTimeout = -1 }, []string{`App "web": invalid kill_timeout`}},
		{"negative size", func(c *ecosystem.Config) { c.Apps[0].LogRotate.MaxSize = -1 }, []string{`App "web": invalid log_rotate.max_size`}},
		{"max_parallel", func(c *ecosystem.Config) { c.Apps[0].MaxParallel = 0 }, []string{`App "web": invalid max_parallel`}},
		{"env name", func(c *ecosystem.Config) { c.Apps[0].Env = map[string]string{"A=B": "1"} }, []string{`App "web": invalid environment variable`}},
		{"instance_var", func(c *ecosystem.Config) { c.Apps[0].InstanceVar = "" }, []string{`App "web": invalid instance_var`}},
		{"cron", func(c *ecosystem.Config) { c.Apps[0].CronRestart = "every day" }, []string{`App "web": invalid cron expression`}},
		{"duplicate", func(c *ecosystem.Config) { c.Apps = append(c.Apps, goodApp("web")) }, []string{`App "web": duplicate app`}},
		{"every problem", func(c *ecosystem.Config) {
			c.Apps[0].Port, c.Apps[0].Instances, c.Apps[0].StopSignal = 70000, -1, "SIGBOGUS"
		}, []string{`App "web": invalid instances`, `App "web": invalid port`, `App "web": invalid signal`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &ecosystem.Config{Project: "shop", Apps: []ecosystem.App{goodApp("web")}}
			tt.edit(cfg)
			diags := ecosystem.Check(cfg)
			var got []string
			for _, d := range diags {
				got = append(got, d.Summary)
				if d.Subject != nil {
					t.Errorf("%s: a subject without ranges: %v", d.Summary, d.Subject)
				}
				if d.Detail == "" {
					t.Errorf("%s: no detail", d.Summary)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCheck_DecodedFilesPass: every valid file decodes into a Config that Check accepts, as it
// is when sent to the daemon (JSON drops the ranges).
func TestCheck_DecodedFilesPass(t *testing.T) {
	for _, path := range cases(t, "testdata/valid") {
		cfg, diags := load(t, path)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", path, diags)
		}
		if diags := ecosystem.Check(cfg); len(diags) > 0 {
			t.Errorf("%s: %s", path, diags)
		}
	}
}
