package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// manager is one process manager under test, driven through its CLI only.
type manager interface {
	benchkit.Manager
	// Daemon starts the manager's idle daemon.
	Daemon(ctx context.Context) error
	// Start runs the start command of the benchmark's ecosystem file.
	Start(ctx context.Context) error
	// Delete deletes the app, which has exited, so that the next Start starts it anew.
	Delete(ctx context.Context) error
	// LogDir is the folder that holds the app's stdout log file and nothing else.
	LogDir() string
}

func (b *bench) managers() []manager {
	return []manager{
		&ecoCLI{Eco: b.Eco, logDir: b.Path("logs-eco")},
		&pm2CLI{PM2: b.PM2, logDir: b.Path("logs-pm2")},
	}
}

// ecoCLI drives eco.
type ecoCLI struct {
	*benchkit.Eco
	logDir string
}

func (e *ecoCLI) LogDir() string { return e.logDir }

func (e *ecoCLI) Daemon(ctx context.Context) error {
	_, err := e.Run(ctx, 30*time.Second, "daemon")
	return err
}

func (e *ecoCLI) Start(ctx context.Context) error {
	_, err := e.Run(ctx, 2*time.Minute, "apply", e.File)
	return err
}

func (e *ecoCLI) Delete(ctx context.Context) error {
	_, err := e.Run(ctx, time.Minute, "delete", appName)
	return err
}

// pm2CLI drives PM2.
type pm2CLI struct {
	*benchkit.PM2
	logDir string
}

func (p *pm2CLI) LogDir() string { return p.logDir }

func (p *pm2CLI) Daemon(ctx context.Context) error {
	// Any command spawns PM2's daemon; ping does nothing else.
	_, err := p.Run(ctx, 30*time.Second, "ping")
	return err
}

func (p *pm2CLI) Start(ctx context.Context) error {
	_, err := p.Run(ctx, 2*time.Minute, "start", p.File)
	return err
}

func (p *pm2CLI) Delete(ctx context.Context) error {
	_, err := p.Run(ctx, time.Minute, "delete", appName)
	return err
}

// emptyDir removes every file of dir, which must exist.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("empty %s: %w", dir, err)
		}
	}
	return nil
}
