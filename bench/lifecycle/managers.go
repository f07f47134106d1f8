package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// manager is one process manager under test, driven through its CLI only.
type manager interface {
	benchkit.Manager
	// Fresh stops whatever runs and starts a new, idle daemon.
	Fresh(ctx context.Context) error
	// Start runs the start command of the benchmark's ecosystem file and returns when it returns.
	Start(ctx context.Context) error
	// Instances counts the instances the manager lists, and those of them that are online.
	Instances(ctx context.Context) (online, total int, err error)
	// List runs the JSON list command once (the command being timed).
	List(ctx context.Context) error
}

func (b *bench) managers() []manager { return []manager{&ecoCLI{Eco: b.Eco}, &pm2CLI{PM2: b.PM2}} }

// ecoCLI drives eco.
type ecoCLI struct{ *benchkit.Eco }

func (e *ecoCLI) Fresh(ctx context.Context) error {
	if err := e.Stop(ctx); err != nil {
		return err
	}
	if _, err := e.Run(ctx, 30*time.Second, "daemon"); err != nil {
		return err
	}
	return expectNoApps(ctx, e)
}

func (e *ecoCLI) Start(ctx context.Context) error {
	_, err := e.Run(ctx, 2*time.Minute, "apply", e.File)
	return err
}

func (e *ecoCLI) List(ctx context.Context) error {
	_, err := e.Run(ctx, 30*time.Second, "ls", "--json")
	return err
}

func (e *ecoCLI) Instances(ctx context.Context) (online, total int, err error) {
	out, err := e.Run(ctx, 30*time.Second, "ls", "--json")
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

// pm2CLI drives PM2.
type pm2CLI struct{ *benchkit.PM2 }

func (p *pm2CLI) Fresh(ctx context.Context) error {
	if err := p.Stop(ctx); err != nil {
		return err
	}
	// Any command spawns PM2's daemon; ping does nothing else.
	if _, err := p.Run(ctx, 30*time.Second, "ping"); err != nil {
		return err
	}
	return expectNoApps(ctx, p)
}

func (p *pm2CLI) Start(ctx context.Context) error {
	_, err := p.Run(ctx, 2*time.Minute, "start", p.File)
	return err
}

func (p *pm2CLI) List(ctx context.Context) error {
	_, err := p.Run(ctx, 30*time.Second, "jlist")
	return err
}

func (p *pm2CLI) Instances(ctx context.Context) (online, total int, err error) {
	out, err := p.Run(ctx, 30*time.Second, "jlist")
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
