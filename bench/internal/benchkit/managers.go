package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Manager is a process manager under test, as the clean-up sees it.
type Manager interface {
	Name() string
	// DaemonPid is the running daemon's pid.
	DaemonPid() (int, error)
	// Stop deletes the apps and stops the daemon; it does nothing when no daemon runs.
	Stop(ctx context.Context) error
	// MarkDir is where the apps write their markers.
	MarkDir() string
}

// CLI runs one program's commands with the benchmark's environment.
type CLI struct {
	Bin  string   // the program
	Dir  string   // the benchmark's temp folder: the working directory, and the Ours guard
	Env  []string // os.Environ with the manager's home set
	Home string   // ECO_HOME or PM2_HOME
}

// Run runs the command to completion and returns its standard output.
func (c CLI) Run(ctx context.Context, timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin, args...)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(c.Bin), strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

// EnvWith is os.Environ without any ECO_* or PM2_* variable, plus kv.
func EnvWith(kv ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "ECO_") || strings.HasPrefix(e, "PM2_") {
			continue
		}
		env = append(env, e)
	}
	return append(env, kv...)
}

// Eco drives eco.
type Eco struct {
	CLI
	File  string // the ecosystem file
	Marks string // where the apps write their markers
}

func (e *Eco) Name() string    { return "eco" }
func (e *Eco) MarkDir() string { return e.Marks }

func (e *Eco) DaemonPid() (int, error) {
	return ReadPidFile(filepath.Join(e.Home, "daemon.lock"))
}

func (e *Eco) Stop(ctx context.Context) error {
	pid, err := e.DaemonPid()
	if err != nil || !Ours(pid, e.Dir) {
		return nil
	}
	// eco kill keeps the applied apps in state.json for the next daemon: delete them first.
	if _, err := e.Run(ctx, time.Minute, "delete", "all"); err != nil {
		return err
	}
	_, err = e.Run(ctx, time.Minute, "kill")
	return err
}

// PM2 drives PM2.
type PM2 struct {
	CLI
	File  string // ecosystem.config.js
	Marks string // where the apps write their markers
}

func (p *PM2) Name() string    { return "PM2" }
func (p *PM2) MarkDir() string { return p.Marks }

func (p *PM2) DaemonPid() (int, error) {
	return ReadPidFile(filepath.Join(p.Home, "pm2.pid"))
}

func (p *PM2) Stop(ctx context.Context) error {
	// pm2 kill spawns a daemon when none runs, so only call it when one does. It stops the apps
	// and PM2 does not bring them back on its own.
	pid, err := p.DaemonPid()
	if err != nil || !Ours(pid, p.Dir) {
		return nil
	}
	_, err = p.Run(ctx, time.Minute, "kill")
	return err
}
