package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// side is one manager as the benchmark drives it. Between the kill and the end of the
// measurement the benchmark only calls Back and List: neither types a command that would start
// a daemon.
type side interface {
	Name() string
	// Apps are the apps it runs: the cluster apps, then the chatty one.
	Apps() []string
	// Start writes the manager's file into r and starts the apps with it.
	Start(ctx context.Context, tmp string, r runDir) error
	// DaemonPid is the pid to SIGKILL: the process running the manager's logic.
	DaemonPid(ctx context.Context) (int, error)
	// List is the instances' pids by app, as the manager lists them, and their states.
	List(ctx context.Context) (map[string][]instance, error)
	// Back reports, without starting anything, whether a manager other than the killed pid
	// answers, and its pid.
	Back(ctx context.Context, killed int) (int, bool)
	// Stop stops the apps and the daemon with the manager's own commands.
	Stop(ctx context.Context) error
}

// instance is one listed instance.
type instance struct {
	pid    int
	online bool
}

// pids are the pids of is.
func pids(is []instance) []int {
	var ps []int
	for _, i := range is {
		if i.pid > 0 {
			ps = append(ps, i.pid)
		}
	}
	return ps
}

// ecoSide drives eco through its CLI and its control socket.
type ecoSide struct{ *benchkit.Eco }

func (e ecoSide) Name() string   { return "eco" }
func (e ecoSide) Apps() []string { return []string{appProxy, appKernel, appHandoff, appChatty} }

func (e ecoSide) Start(ctx context.Context, tmp string, r runDir) error {
	file := filepath.Join(r.dir, "survive.hcl")
	if err := os.WriteFile(file, ecoFile(tmp, r), 0o644); err != nil {
		return err
	}
	_, err := e.Run(ctx, time.Minute, "apply", file)
	return err
}

func (e ecoSide) DaemonPid(ctx context.Context) (int, error) {
	return benchkit.EcoPing(ctx, e.Home, 5*time.Second)
}

// parseEcoApps reads GET /v1/apps.
func parseEcoApps(data []byte) (map[string][]instance, error) {
	var apps []struct {
		Name      string `json:"name"`
		Instances []struct {
			Pid   int    `json:"pid"`
			State string `json:"state"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(data, &apps); err != nil {
		return nil, fmt.Errorf("GET /v1/apps: %w", err)
	}
	by := map[string][]instance{}
	for _, a := range apps {
		by[a.Name] = []instance{}
		for _, in := range a.Instances {
			by[a.Name] = append(by[a.Name], instance{pid: in.Pid, online: in.State == "online"})
		}
	}
	return by, nil
}

func (e ecoSide) List(ctx context.Context) (map[string][]instance, error) {
	var raw json.RawMessage
	if err := benchkit.EcoGet(ctx, e.Home, "/v1/apps", 5*time.Second, &raw); err != nil {
		return nil, err
	}
	return parseEcoApps(raw)
}

// Back is GET /v1/ping on the control socket answering with a pid other than the killed one.
func (e ecoSide) Back(ctx context.Context, killed int) (int, bool) {
	pid, err := benchkit.EcoPing(ctx, e.Home, 250*time.Millisecond)
	return pid, err == nil && pid != killed
}

// Stop runs eco delete all and eco kill whether the daemon answers or not: with none, the CLI
// starts one, which reads the applied apps from its state, so that they are deleted too and the
// next start begins from nothing.
func (e ecoSide) Stop(ctx context.Context) error {
	if _, err := e.Run(ctx, time.Minute, "delete", "all"); err != nil {
		return err
	}
	_, err := e.Run(ctx, time.Minute, "kill")
	return err
}

// pm2Side drives PM2 through its CLI and, after the kill, through PM2_HOME's files only.
type pm2Side struct{ *benchkit.PM2 }

func (p pm2Side) Name() string   { return "PM2" }
func (p pm2Side) Apps() []string { return []string{appWeb, appChatty} }

func (p pm2Side) Start(ctx context.Context, tmp string, r runDir) error {
	file := filepath.Join(r.dir, "ecosystem.config.js")
	if err := os.WriteFile(file, pm2File(tmp, r), 0o644); err != nil {
		return err
	}
	_, err := p.Run(ctx, time.Minute, "start", file)
	return err
}

func (p pm2Side) DaemonPid(context.Context) (int, error) {
	pid, err := p.PM2.DaemonPid()
	if err == nil && !benchkit.Ours(pid, p.Dir) {
		err = fmt.Errorf("PM2's daemon (pid %d in %s) does not run", pid, filepath.Join(p.Home, "pm2.pid"))
	}
	return pid, err
}

// parsePM2Jlist reads `pm2 jlist`.
func parsePM2Jlist(data []byte) (map[string][]instance, error) {
	var procs []struct {
		Name string `json:"name"`
		Pid  int    `json:"pid"`
		Env  struct {
			Status string `json:"status"`
		} `json:"pm2_env"`
	}
	if err := json.Unmarshal(data, &procs); err != nil {
		return nil, fmt.Errorf("pm2 jlist: %w", err)
	}
	by := map[string][]instance{}
	for _, pr := range procs {
		by[pr.Name] = append(by[pr.Name], instance{pid: pr.Pid, online: pr.Env.Status == "online"})
	}
	return by, nil
}

// List runs pm2 jlist. It must only run while PM2's daemon does: the CLI starts one otherwise.
func (p pm2Side) List(ctx context.Context) (map[string][]instance, error) {
	if _, err := p.DaemonPid(ctx); err != nil {
		return nil, err
	}
	out, err := p.Run(ctx, 30*time.Second, "jlist")
	if err != nil {
		return nil, err
	}
	return parsePM2Jlist(out)
}

// Back is a live God daemon other than the killed one in PM2_HOME/pm2.pid that accepts on
// PM2_HOME/rpc.sock: what `pm2 jlist` would talk to, found without running it (it would start
// a daemon).
func (p pm2Side) Back(ctx context.Context, killed int) (int, bool) {
	pid, err := p.DaemonPid(ctx)
	if err != nil || pid == killed {
		return pid, false
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	c, err := d.DialContext(dctx, "unix", filepath.Join(p.Home, "rpc.sock"))
	if err != nil {
		return pid, false
	}
	c.Close()
	return pid, true
}

// Stop runs pm2 kill when PM2's daemon runs (the CLI would start one otherwise).
func (p pm2Side) Stop(ctx context.Context) error { return p.PM2.Stop(ctx) }
