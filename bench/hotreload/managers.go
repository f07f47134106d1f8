package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// manager is one process manager under test, driven through its CLI only.
type manager interface {
	benchkit.Manager
	// Path is the ecosystem file, and Content its text with BENCH_VALUE = val.
	Path() string
	Content(val string) []byte
	// Start runs the start command of the ecosystem file.
	Start(ctx context.Context) error
	// ReloadArgs is the command to run after a save; nil when the manager needs none.
	ReloadArgs() []string
	// Run runs one of the manager's commands.
	Run(ctx context.Context, timeout time.Duration, args ...string) ([]byte, error)
	// Instances lists the app's instances as the manager shows them.
	Instances(ctx context.Context) ([]listed, error)
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

func (b *bench) managers() []manager { return []manager{&ecoCLI{Eco: b.Eco}, &pm2CLI{PM2: b.PM2}} }

// ecoCLI drives eco.
type ecoCLI struct{ *benchkit.Eco }

func (e *ecoCLI) Path() string { return e.File }
func (e *ecoCLI) Content(val string) []byte {
	return ecoFile(filepath.Join(e.Dir, appFile), e.Marks, val)
}
func (e *ecoCLI) ReloadArgs() []string { return nil } // the daemon watches the file

func (e *ecoCLI) Start(ctx context.Context) error {
	_, err := e.Run(ctx, time.Minute, "apply", e.File)
	return err
}

func (e *ecoCLI) Instances(ctx context.Context) ([]listed, error) {
	out, err := e.Run(ctx, 30*time.Second, "ls", "--json")
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

// pm2CLI drives PM2.
type pm2CLI struct{ *benchkit.PM2 }

func (p *pm2CLI) Path() string { return p.File }
func (p *pm2CLI) Content(val string) []byte {
	return pm2File(filepath.Join(p.Dir, appFile), p.Marks, val)
}

// ReloadArgs is PM2's fastest way to run an edited ecosystem file: a manual command.
func (p *pm2CLI) ReloadArgs() []string {
	return []string{"startOrReload", p.File, "--update-env"}
}

func (p *pm2CLI) Start(ctx context.Context) error {
	_, err := p.Run(ctx, time.Minute, "start", p.File)
	return err
}

func (p *pm2CLI) Instances(ctx context.Context) ([]listed, error) {
	out, err := p.Run(ctx, 30*time.Second, "jlist")
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
