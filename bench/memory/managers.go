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
	// Start runs the start command of the benchmark's ecosystem file.
	Start(ctx context.Context) error
	// Restart restarts the app by command (after a round in which the manager never did).
	Restart(ctx context.Context) error
	// Account is what the manager itself says about the app: its restart count and state.
	Account(ctx context.Context) (string, error)
}

func (b *bench) managers() []manager { return []manager{&ecoCLI{Eco: b.Eco}, &pm2CLI{PM2: b.PM2}} }

// ecoCLI drives eco.
type ecoCLI struct{ *benchkit.Eco }

func (e *ecoCLI) Start(ctx context.Context) error {
	_, err := e.Run(ctx, 2*time.Minute, "apply", e.File)
	return err
}

func (e *ecoCLI) Restart(ctx context.Context) error {
	_, err := e.Run(ctx, time.Minute, "restart", appName)
	return err
}

func (e *ecoCLI) Account(ctx context.Context) (string, error) {
	out, err := e.Run(ctx, 30*time.Second, "ls", "--json")
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

// pm2CLI drives PM2.
type pm2CLI struct{ *benchkit.PM2 }

func (p *pm2CLI) Start(ctx context.Context) error {
	_, err := p.Run(ctx, 2*time.Minute, "start", p.File)
	return err
}

func (p *pm2CLI) Restart(ctx context.Context) error {
	_, err := p.Run(ctx, time.Minute, "restart", appName)
	return err
}

func (p *pm2CLI) Account(ctx context.Context) (string, error) {
	out, err := p.Run(ctx, 30*time.Second, "jlist")
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
