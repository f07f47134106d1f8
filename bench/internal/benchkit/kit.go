package benchkit

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Kit is one benchmark run in its temp folder: both managers, the pids it saw and where it ran.
type Kit struct {
	Config
	Root   string // the repository, where eco is built
	Dir    string // the temp folder holding everything the run writes
	Stderr io.Writer

	Eco *Eco
	PM2 *PM2

	Pids    []int // every daemon and app pid seen, for the by-pid kill at cleanup
	Machine Machine
	Started time.Time
}

func newKit(cfg Config, root, dir string, stderr io.Writer) *Kit {
	ecoHome, pm2Home := filepath.Join(dir, "eh"), filepath.Join(dir, "ph")
	return &Kit{
		Config: cfg, Root: root, Dir: dir, Stderr: stderr,
		Eco: &Eco{
			CLI: CLI{
				Bin: filepath.Join(dir, "eco"), Dir: dir, Home: ecoHome,
				Env: EnvWith("ECO_HOME=" + ecoHome),
			},
			File:  filepath.Join(dir, cfg.EcoFile),
			Marks: filepath.Join(dir, cfg.Marks+"-eco"),
		},
		PM2: &PM2{
			CLI: CLI{
				Bin: filepath.Join(dir, "pm2", "node_modules", ".bin", "pm2"), Dir: dir, Home: pm2Home,
				Env: EnvWith("PM2_HOME=" + pm2Home),
			},
			File:  filepath.Join(dir, cfg.PM2File),
			Marks: filepath.Join(dir, cfg.Marks+"-pm2"),
		},
	}
}

// Path is name in the temp folder.
func (k *Kit) Path(name string) string { return filepath.Join(k.Dir, name) }

// Logf prints a line of progress on stderr.
func (k *Kit) Logf(format string, args ...any) {
	fmt.Fprintf(k.Stderr, k.Name+": "+format+"\n", args...)
}

// setup makes both managers' homes and marker folders, writes files, builds eco (or copies
// -eco), installs PM2 and reads where the run happens.
func (k *Kit) setup(ctx context.Context, files map[string][]byte) error {
	k.Started = time.Now()
	for _, tool := range []string{"go", "node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the benchmark needs %s on PATH: %w", tool, err)
		}
	}
	k.Logf("temp folder %s", k.Dir)
	for _, d := range []string{k.Eco.Home, k.PM2.Home, k.Eco.Marks, k.PM2.Marks} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	if k.EcoBin != "" {
		k.Logf("copying %s", k.EcoBin)
		if err := CopyEco(k.EcoBin, k.Eco.Bin); err != nil {
			return err
		}
	} else {
		k.Logf("building eco")
		if _, err := BuildEco(ctx, k.Root, k.Eco.Bin); err != nil {
			return err
		}
	}
	k.Logf("installing pm2@%s from npm", k.PM2Version)
	if _, err := k.Command(ctx, 5*time.Minute, k.Dir, "npm", "install", "--prefix", filepath.Join(k.Dir, "pm2"),
		"--no-audit", "--no-fund", "--loglevel=error", "pm2@"+k.PM2Version); err != nil {
		return err
	}
	var err error
	k.Machine, err = k.machine(ctx)
	return err
}

// Command runs a command (found on PATH) in dir and returns its trimmed standard output.
func (k *Kit) Command(ctx context.Context, timeout time.Duration, dir, name string, args ...string) (string, error) {
	c := CLI{Bin: name, Dir: dir, Env: EnvWith()}
	if path, err := exec.LookPath(name); err == nil {
		c.Bin = path
	}
	out, err := c.Run(ctx, timeout, args...)
	return strings.TrimSpace(string(out)), err
}

// Stop stops m's apps and daemon and makes sure their processes are gone.
func (k *Kit) Stop(ctx context.Context, m Manager) error {
	pids := k.Markers(m.MarkDir())
	if pid, err := m.DaemonPid(); err == nil {
		pids = append(pids, pid)
	}
	if err := m.Stop(ctx); err != nil {
		return err
	}
	if !WaitGone(ctx, pids, k.Dir, 10*time.Second) {
		if killed := KillOurs(ctx, pids, k.Dir); len(killed) > 0 {
			k.Logf("%s left processes after stopping; killed pids %v", m.Name(), killed)
		}
	}
	return nil
}

// cleanup stops both managers and then kills, by pid, anything the run started that is still
// there. It runs whatever happened before, so it only logs.
func (k *Kit) cleanup(ctx context.Context) {
	for _, m := range []Manager{k.Eco, k.PM2} {
		if err := m.Stop(ctx); err != nil {
			k.Logf("cleanup: %v", err)
		}
		k.Pids = append(k.Pids, k.Markers(m.MarkDir())...)
		if pid, err := m.DaemonPid(); err == nil {
			k.Pids = append(k.Pids, pid)
		}
	}
	slices.Sort(k.Pids)
	if killed := KillOurs(ctx, slices.Compact(k.Pids), k.Dir); len(killed) > 0 {
		k.Logf("cleanup: killed leftover pids %v", killed)
	}
}
