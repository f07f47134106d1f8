package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where the benchmark ran. The benchmark sets the load averages around its
// measurement.
type Machine struct {
	cpus                   int
	cpuModel, kernel       string
	memTotal               string
	node, pm2, eco, commit string
	goVersion              string
	LoadBefore, LoadAfter  string
}

func (k *Kit) machine(ctx context.Context) (Machine, error) {
	mi := Machine{
		cpus:      runtime.NumCPU(),
		cpuModel:  procField("/proc/cpuinfo", "model name"),
		kernel:    strings.TrimSpace(readString("/proc/sys/kernel/osrelease")),
		memTotal:  memTotal(),
		goVersion: runtime.Version(),
	}
	if v, err := k.Command(ctx, 30*time.Second, k.Dir, "go", "version", k.Eco.Bin); err == nil {
		if _, after, ok := strings.Cut(v, ": "); ok {
			mi.goVersion = after // the Go that built eco
		}
	}
	var err error
	if mi.node, err = k.Command(ctx, 30*time.Second, k.Dir, "node", "-v"); err != nil {
		return mi, err
	}
	var pkg struct {
		Version string `json:"version"`
	}
	data, err := os.ReadFile(filepath.Join(k.Dir, "pm2", "node_modules", "pm2", "package.json"))
	if err == nil {
		err = json.Unmarshal(data, &pkg)
	}
	if err != nil {
		return mi, fmt.Errorf("read the installed PM2's version: %w", err)
	}
	mi.pm2 = pkg.Version
	if mi.eco, err = k.Command(ctx, 30*time.Second, k.Dir, k.Eco.Bin, "version"); err != nil {
		return mi, err
	}
	mi.eco = strings.TrimPrefix(mi.eco, "eco ")
	if k.EcoBin != "" {
		mi.commit = "binary " + k.EcoBin
	} else if commit, err := k.Command(ctx, 30*time.Second, k.Root, "git", "rev-parse", "--short", "HEAD"); err == nil {
		mi.commit = "commit " + commit
		if st, err := k.Command(ctx, 30*time.Second, k.Root, "git", "status", "--porcelain"); err == nil && st != "" {
			mi.commit += " + uncommitted changes"
		}
	}
	return mi, nil
}

// WriteHeader prints the report's title and its date, machine and versions lines.
func (k *Kit) WriteHeader(w io.Writer, title string) {
	mi := k.Machine
	fmt.Fprintf(w, "## %s\n\n", title)
	fmt.Fprintf(w, "- Date: %s\n", k.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- Machine: %d CPUs (nproc; %s), %s RAM, Linux %s; load average %s before, %s after\n",
		mi.cpus, mi.cpuModel, mi.memTotal, mi.kernel, mi.LoadBefore, mi.LoadAfter)
	fmt.Fprintf(w, "- Versions: eco %s (%s, %s), PM2 %s (npm, pm2@%s), node %s\n",
		mi.eco, mi.commit, mi.goVersion, mi.pm2, k.PM2Version, mi.node)
}

// procField is the value of the first "key: value" line of a /proc file with that key.
func procField(path, key string) string {
	for _, line := range strings.Split(readString(path), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}

// memTotal is the machine's memory in GiB.
func memTotal() string {
	kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// LoadAvg is the 1, 5 and 15 minute load averages.
func LoadAvg() string {
	f := strings.Fields(readString("/proc/loadavg"))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
