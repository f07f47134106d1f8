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
	// Start runs the start command of the benchmark's ecosystem file.
	Start(ctx context.Context) error
	// Restart restarts the app by command (after a round in which the manager never did).
	Restart(ctx context.Context) error
	// Account is what the manager itself says about the app: its restart count and state.
	Account(ctx context.Context) (string, error)
	// DaemonPid is the running daemon's pid.
	DaemonPid() (int, error)
	// Stop deletes the app and stops the daemon; it does nothing when no daemon runs.
	Stop(ctx context.Context) error
	// PidDir is where the app writes its pid markers.
	PidDir() string
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
	file, pidDir string
}

func (e *ecoCLI) Name() string   { return "eco" }
func (e *ecoCLI) PidDir() string { return e.pidDir }

func (e *ecoCLI) DaemonPid() (int, error) {
	return readPidFile(filepath.Join(e.home, "daemon.lock"))
}

func (e *ecoCLI) Start(ctx context.Context) error {
	_, err := e.run(ctx, 2*time.Minute, "apply", e.file)
	return err
}

func (e *ecoCLI) Restart(ctx context.Context) error {
	_, err := e.run(ctx, time.Minute, "restart", appName)
	return err
}

func (e *ecoCLI) Account(ctx context.Context) (string, error) {
	out, err := e.run(ctx, 30*time.Second, "ls", "--json")
	if err != nil {
		return "", err
	}
	var apps []struct {
		Name      string `json:"name"`
		Instances []struct {
			Pid      int    `json:"pid"`
			State    string `json:"state"`
			Restarts int    `json:"restarts"`
			Reason   string `json:"reason"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out, &apps); err != nil {
		return "", fmt.Errorf("eco ls --json: %w", err)
	}
	for _, a := range apps {
		if a.Name == appName && len(a.Instances) > 0 {
			in := a.Instances[0]
			return fmt.Sprintf("`eco ls`: %s, %d restarts, reason %q", in.State, in.Restarts, in.Reason), nil
		}
	}
	return "", fmt.Errorf("eco ls --json: no app %q", appName)
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
	file, pidDir string
}

func (p *pm2CLI) Name() string   { return "PM2" }
func (p *pm2CLI) PidDir() string { return p.pidDir }

func (p *pm2CLI) DaemonPid() (int, error) {
	return readPidFile(filepath.Join(p.home, "pm2.pid"))
}

func (p *pm2CLI) Start(ctx context.Context) error {
	_, err := p.run(ctx, 2*time.Minute, "start", p.file)
	return err
}

func (p *pm2CLI) Restart(ctx context.Context) error {
	_, err := p.run(ctx, time.Minute, "restart", appName)
	return err
}

func (p *pm2CLI) Account(ctx context.Context) (string, error) {
	out, err := p.run(ctx, 30*time.Second, "jlist")
	if err != nil {
		return "", err
	}
	var procs []struct {
		Name string `json:"name"`
		Env  struct {
			Status   string `json:"status"`
			Restarts int    `json:"restart_time"`
		} `json:"pm2_env"`
	}
	if err := json.Unmarshal(out, &procs); err != nil {
		return "", fmt.Errorf("pm2 jlist: %w", err)
	}
	for _, pr := range procs {
		if pr.Name == appName {
			return fmt.Sprintf("`pm2 jlist`: %s, restart_time %d", pr.Env.Status, pr.Env.Restarts), nil
		}
	}
	return "", fmt.Errorf("pm2 jlist: no app %q", appName)
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
