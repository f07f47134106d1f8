package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

func main() { benchkit.Main(config.Name, run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return benchkit.Run(ctx, config, args, stdout, stderr, prepare, newBench)
}

// config describes the benchmark to benchkit.Run; its Options come from the command line.
// Every start of a setup has a folder of its own under runs/ (its ecosystem file and its
// markers), so the clean-up's Markers reads them all, whichever manager it asks about.
var config = benchkit.Config{
	Name: "cluster", TempPrefix: "ecoc",
	EcoFile: "runs/eco.hcl", PM2File: "runs/ecosystem.config.js", Marks: "marks",
	Markers: func(markDir string) []int { return allMarkers(filepath.Join(filepath.Dir(markDir), runsDir)) },
}

// The setups, as -modes names them.
const (
	modeSingle      = "single"
	modeNodeCluster = "node-cluster"
	modePM2         = "pm2"
	modeEcoKernel   = "eco-kernel"
	modeEcoRR       = "eco-rr"
	modeEcoHandoff  = "eco-handoff"
	// modeEcoPerIndex is eco's kernel mode with a socket per instance index
	// (ECO_KERNEL_SOCKETS=per_index in the daemon's environment).
	modeEcoPerIndex = "eco-kernel-per-index"
)

// allModes is every setup, in the order of the report's columns.
var allModes = []string{modeSingle, modeNodeCluster, modePM2, modeEcoKernel, modeEcoRR, modeEcoHandoff, modeEcoPerIndex}

// options are the command line's flags.
type options struct {
	benchkit.Options
	modes     []string
	rounds    int
	duration  time.Duration // each wrk run
	warmup    time.Duration // an unmeasured wrk run before the throughput one
	express   string        // the npm version of express
	port      int           // the port the app hard-codes; set by prepare
	wantPort  int           // -port
	wrk       string        // wrk's path; set by prepare
	connClose bool          // -conn-close: a new connection for every request
	readyWait time.Duration // how long a start may take until every instance listens
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := o.FlagSet("cluster", "Compares cluster mode under eco (kernel, round_robin and handoff), Node's cluster module and PM2 (installed from npm into a temp folder) with wrk on loopback: throughput, failed requests during reloads and under random crashes; prints a Markdown report.", stderr)
	modes := fs.String("modes", strings.Join(allModes, ","), "setups to run, comma-separated: "+strings.Join(allModes, ", "))
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every setup once, the order rotating")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured wrk run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured wrk run before each throughput run (0: none)")
	fs.StringVar(&o.express, "express", "latest", "express version to install from npm")
	fs.IntVar(&o.wantPort, "port", 3000, "port the app hard-codes; a free one is picked instead when it is taken")
	fs.BoolVar(&o.connClose, "conn-close", false, "send every request on a new connection (Connection: close) instead of keeping the connections alive")
	fs.DurationVar(&o.readyWait, "ready-timeout", 20*time.Second, "how long a setup may take to have every instance listening")
	if err := benchkit.Parse(fs, args); err != nil {
		return o, err
	}
	var err error
	if o.modes, err = parseModes(*modes); err != nil {
		return o, err
	}
	if o.rounds < 1 || o.duration < time.Second || o.warmup < 0 || o.readyWait < time.Second {
		return o, errors.New("-rounds must be at least 1, -duration and -ready-timeout at least 1s, -warmup not negative")
	}
	if o.wantPort < 1 || o.wantPort > 65535 {
		return o, fmt.Errorf("-port %d: not a port", o.wantPort)
	}
	return o, nil
}

// load is how the runs load the app.
func (o options) load() loader { return loader{wrk: o.wrk, connClose: o.connClose} }

// parseModes reads -modes: known names, each once, in the report's order.
func parseModes(s string) ([]string, error) {
	var modes []string
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if !slices.Contains(allModes, m) {
			return nil, fmt.Errorf("-modes: unknown setup %q; want some of %s", m, strings.Join(allModes, ", "))
		}
		if !slices.Contains(modes, m) {
			modes = append(modes, m)
		}
	}
	if len(modes) == 0 {
		return nil, errors.New("-modes: no setup")
	}
	slices.SortFunc(modes, func(a, b string) int { return slices.Index(allModes, a) - slices.Index(allModes, b) })
	return modes, nil
}

// prepare parses the flags, then checks for wrk and picks the port before anything is built or
// installed: both are needed to write the app.
func prepare(args []string, stderr io.Writer) (options, error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return o, err
	}
	if o.wrk, err = exec.LookPath("wrk"); err != nil {
		fmt.Fprintf(stderr, "%s: no wrk on PATH; the benchmark's own Go load generator measures instead\n", config.Name)
		o.wrk = ""
	}
	o.port = o.wantPort
	if !portFree(o.port) {
		if o.port, err = freePort(); err != nil {
			return o, err
		}
		fmt.Fprintf(stderr, "%s: port %d is taken; the app hard-codes port %d instead\n", config.Name, o.wantPort, o.port)
	}
	return o, nil
}

// portFree reports whether a server could listen on port now, on every address, the way
// app.listen(port) does.
func portFree(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// freePort is a port the kernel says is free now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
