package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// manager is one process manager under test, driven through its CLI only.
type manager interface {
	Name() string
	// File is the ecosystem file, and Content its text with BENCH_VALUE = val.
	File() string
	Content(val string) []byte
	// Start runs the start command of the ecosystem file.
	Start(ctx context.Context) error
	// ReloadArgs is the command to run after a save; nil when the manager needs none.
	ReloadArgs() []string
	// Run runs one of the manager's commands.
	Run(ctx context.Context, timeout time.Duration, args ...string) ([]byte, error)
	// Instances lists the app's instances as the manager shows them.
	Instances(ctx context.Context) ([]listed, error)
	// DaemonPid is the running daemon's pid.
	DaemonPid() (int, error)
	// Stop deletes the app and stops the daemon; it does nothing when no daemon runs.
	Stop(ctx context.Context) error
	// MarkDir is where the app writes its markers.
	MarkDir() string
}

// listed is one instance as a manager lists it.
type listed struct {
	Pid    int
	Online bool // online, and ready for eco
}

// onlineIn reports whether pid is among ls and online.
func onlineIn(ls []listed, pid int) bool {
	for _, l := range ls {
		if l.Pid == pid && l.Online {
			return true
		}
	}
	return false
}

// cli runs one manager's command with the benchmark's environment.
type cli struct {
	bin  string   // the program
	dir  string   // the benchmark's temp folder: the working directory, and the ours() guard
	env  []string // os.Environ with the manager's home set
	home string   // ECO_HOME or PM2_HOME
}

// run runs the command to completion and returns its standard output.
func (c cli) run(ctx context.Context, timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(c.bin), strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

// envWith is os.Environ without any ECO_* or PM2_* variable, plus kv.
func envWith(kv ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "ECO_") || strings.HasPrefix(e, "PM2_") {
			continue
		}
		env = append(env, e)
	}
	return append(env, kv...)
}

func (c cli) Run(ctx context.Context, timeout time.Duration, args ...string) ([]byte, error) {
	return c.run(ctx, timeout, args...)
}

// ecoCLI drives eco.
type ecoCLI struct {
	cli
	file, script, markDir string
}

func (e *ecoCLI) Name() string              { return "eco" }
func (e *ecoCLI) File() string              { return e.file }
func (e *ecoCLI) Content(val string) []byte { return ecoFile(e.script, e.markDir, val) }
func (e *ecoCLI) MarkDir() string           { return e.markDir }
func (e *ecoCLI) ReloadArgs() []string      { return nil } // the daemon watches the file

func (e *ecoCLI) DaemonPid() (int, error) {
	return readPidFile(filepath.Join(e.home, "daemon.lock"))
}

func (e *ecoCLI) Start(ctx context.Context) error {
	_, err := e.run(ctx, time.Minute, "apply", e.file)
	return err
}

func (e *ecoCLI) Instances(ctx context.Context) ([]listed, error) {
	out, err := e.run(ctx, 30*time.Second, "ls", "--json")
	if err != nil {
		return nil, err
	}
	return parseEcoLs(out)
}

// parseEcoLs reads the app's instances from `eco ls --json`.
func parseEcoLs(out []byte) ([]listed, error) {
	var apps []struct {
		Name      string `json:"name"`
		Instances []struct {
			Pid   int    `json:"pid"`
			State string `json:"state"`
			Ready bool   `json:"ready"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out, &apps); err != nil {
		return nil, fmt.Errorf("eco ls --json: %w", err)
	}
	var ls []listed
	for _, a := range apps {
		if a.Name != appName {
			continue
		}
		for _, in := range a.Instances {
			ls = append(ls, listed{Pid: in.Pid, Online: in.State == "online" && in.Ready})
		}
	}
	return ls, nil
}

func (e *ecoCLI) Stop(ctx context.Context) error {
	pid, err := e.DaemonPid()
	if err != nil || !ours(pid, e.dir) {
		return nil
	}
	// eco kill keeps the applied apps in state.json for the next daemon: delete them first.
	if _, err := e.run(ctx, time.Minute, "delete", "all"); err != nil {
		return err
	}
	_, err = e.run(ctx, time.Minute, "kill")
	return err
}

// pm2CLI drives PM2.
type pm2CLI struct {
	cli
	file, script, markDir string
}

func (p *pm2CLI) Name() string              { return "PM2" }
func (p *pm2CLI) File() string              { return p.file }
func (p *pm2CLI) Content(val string) []byte { return pm2File(p.script, p.markDir, val) }
func (p *pm2CLI) MarkDir() string           { return p.markDir }

// ReloadArgs is PM2's fastest way to run an edited ecosystem file: a manual command.
func (p *pm2CLI) ReloadArgs() []string {
	return []string{"startOrReload", p.file, "--update-env"}
}

func (p *pm2CLI) DaemonPid() (int, error) {
	return readPidFile(filepath.Join(p.home, "pm2.pid"))
}

func (p *pm2CLI) Start(ctx context.Context) error {
	_, err := p.run(ctx, time.Minute, "start", p.file)
	return err
}

func (p *pm2CLI) Instances(ctx context.Context) ([]listed, error) {
	out, err := p.run(ctx, 30*time.Second, "jlist")
	if err != nil {
		return nil, err
	}
	return parsePM2Jlist(out)
}

// parsePM2Jlist reads the app's processes from `pm2 jlist`.
func parsePM2Jlist(out []byte) ([]listed, error) {
	var procs []struct {
		Name string `json:"name"`
		Pid  int    `json:"pid"`
		Env  struct {
			Status string `json:"status"`
		} `json:"pm2_env"`
	}
	if err := json.Unmarshal(out, &procs); err != nil {
		return nil, fmt.Errorf("pm2 jlist: %w", err)
	}
	var ls []listed
	for _, pr := range procs {
		if pr.Name == appName {
			ls = append(ls, listed{Pid: pr.Pid, Online: pr.Env.Status == "online"})
		}
	}
	return ls, nil
}

func (p *pm2CLI) Stop(ctx context.Context) error {
	// pm2 kill spawns a daemon when none runs, so only call it when one does.
	pid, err := p.DaemonPid()
	if err != nil || !ours(pid, p.dir) {
		return nil
	}
	_, err = p.run(ctx, time.Minute, "kill")
	return err
}
