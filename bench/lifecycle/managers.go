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
	// Fresh stops whatever runs and starts a new, idle daemon.
	Fresh(ctx context.Context) error
	// Start runs the start command of the benchmark's ecosystem file and returns when it returns.
	Start(ctx context.Context) error
	// Instances counts the instances the manager lists, and those of them that are online.
	Instances(ctx context.Context) (online, total int, err error)
	// List runs the JSON list command once (the command being timed).
	List(ctx context.Context) error
	// DaemonPid is the running daemon's pid.
	DaemonPid() (int, error)
	// Stop deletes the apps and stops the daemon; it does nothing when no daemon runs.
	Stop(ctx context.Context) error
	// ReadyDir is where the apps write their ready markers.
	ReadyDir() string
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

// ecoCLI drives eco.
type ecoCLI struct {
	cli
	file, readyDir string
}

func (e *ecoCLI) Name() string     { return "eco" }
func (e *ecoCLI) ReadyDir() string { return e.readyDir }

func (e *ecoCLI) DaemonPid() (int, error) {
	return readPidFile(filepath.Join(e.home, "daemon.lock"))
}

func (e *ecoCLI) Fresh(ctx context.Context) error {
	if err := e.Stop(ctx); err != nil {
		return err
	}
	if _, err := e.run(ctx, 30*time.Second, "daemon"); err != nil {
		return err
	}
	return expectNoApps(ctx, e)
}

func (e *ecoCLI) Start(ctx context.Context) error {
	_, err := e.run(ctx, 2*time.Minute, "apply", e.file)
	return err
}

func (e *ecoCLI) List(ctx context.Context) error {
	_, err := e.run(ctx, 30*time.Second, "ls", "--json")
	return err
}

func (e *ecoCLI) Instances(ctx context.Context) (online, total int, err error) {
	out, err := e.run(ctx, 30*time.Second, "ls", "--json")
	if err != nil {
		return 0, 0, err
	}
	var apps []struct {
		Instances []struct {
			State string `json:"state"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out, &apps); err != nil {
		return 0, 0, fmt.Errorf("eco ls --json: %w", err)
	}
	for _, a := range apps {
		for _, in := range a.Instances {
			total++
			if in.State == "online" {
				online++
			}
		}
	}
	return online, total, nil
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
	file, readyDir string
}

func (p *pm2CLI) Name() string     { return "PM2" }
func (p *pm2CLI) ReadyDir() string { return p.readyDir }

func (p *pm2CLI) DaemonPid() (int, error) {
	return readPidFile(filepath.Join(p.home, "pm2.pid"))
}

func (p *pm2CLI) Fresh(ctx context.Context) error {
	if err := p.Stop(ctx); err != nil {
		return err
	}
	// Any command spawns PM2's daemon; ping does nothing else.
	if _, err := p.run(ctx, 30*time.Second, "ping"); err != nil {
		return err
	}
	return expectNoApps(ctx, p)
}

func (p *pm2CLI) Start(ctx context.Context) error {
	_, err := p.run(ctx, 2*time.Minute, "start", p.file)
	return err
}

func (p *pm2CLI) List(ctx context.Context) error {
	_, err := p.run(ctx, 30*time.Second, "jlist")
	return err
}

func (p *pm2CLI) Instances(ctx context.Context) (online, total int, err error) {
	out, err := p.run(ctx, 30*time.Second, "jlist")
	if err != nil {
		return 0, 0, err
	}
	var procs []struct {
		Env struct {
			Status string `json:"status"`
		} `json:"pm2_env"`
	}
	if err := json.Unmarshal(out, &procs); err != nil {
		return 0, 0, fmt.Errorf("pm2 jlist: %w", err)
	}
	for _, pr := range procs {
		if pr.Env.Status == "online" {
			online++
		}
	}
	return online, len(procs), nil
}

func (p *pm2CLI) Stop(ctx context.Context) error {
	// pm2 kill spawns a daemon when none runs, so only call it when one does. It stops the apps
	// and PM2 does not bring them back on its own.
	pid, err := p.DaemonPid()
	if err != nil || !ours(pid, p.dir) {
		return nil
	}
	_, err = p.run(ctx, time.Minute, "kill")
	return err
}

// expectNoApps checks that a fresh daemon has nothing to list.
func expectNoApps(ctx context.Context, m manager) error {
	_, total, err := m.Instances(ctx)
	if err != nil {
		return err
	}
	if total != 0 {
		return fmt.Errorf("%s: a fresh daemon lists %d instances", m.Name(), total)
	}
	return nil
}
