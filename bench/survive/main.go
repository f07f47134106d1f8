package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

func main() { benchkit.Main(config.Name, run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return benchkit.Run(ctx, config, args, stdout, stderr, parseFlags, newBench)
}

// config describes the benchmark to benchkit.Run. Every start has a folder of its own under
// runs/; the clean-up's Markers reads every marker under it, whichever manager it asks about.
var config = benchkit.Config{
	Name: "survive", TempPrefix: "ecos",
	EcoFile: "runs/survive.hcl", PM2File: "runs/ecosystem.config.js", Marks: "marks",
	Markers: func(markDir string) []int { return allMarkers(filepath.Join(filepath.Dir(markDir), runsDir)) },
}

// runsDir holds a folder for each start.
const runsDir = "runs"

// The managers, as -managers names them.
const (
	sideEco = "eco"
	sidePM2 = "pm2"
)

var allSides = []string{sideEco, sidePM2}

// options are the command line's flags.
type options struct {
	benchkit.Options
	sides     []string
	reps      int
	warmup    time.Duration // load before the kill
	after     time.Duration // load after the kill
	wait      time.Duration // how long after the kill "managed again" is waited for
	conns     int           // load workers per cluster app
	rate      int           // requests per second per cluster app
	readyWait time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := o.FlagSet("survive", "SIGKILLs the eco daemon (a proxy cluster, a kernel cluster, a handoff cluster and a chatty fork app) and PM2's God daemon (a cluster -i 2 and the same chatty app; PM2 installed from npm into a temp folder) under a paced HTTP load on loopback, and reports per setup: failed requests, time until managed again with no command typed, log lines lost and instances restarted, as medians over the repetitions, in Markdown.", stderr)
	sides := fs.String("managers", strings.Join(allSides, ","), "managers to run, comma-separated: "+strings.Join(allSides, ", "))
	fs.IntVar(&o.reps, "reps", 3, "repetitions; each kills every manager's daemon once, the managers' order alternating")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before the kill")
	fs.DurationVar(&o.after, "after", 5*time.Second, "load after the kill")
	fs.DurationVar(&o.wait, "wait", 10*time.Second, "how long after the kill to wait for the manager to answer again")
	fs.IntVar(&o.conns, "conns", 4, "load workers per cluster app, half of them with keep-alive")
	fs.IntVar(&o.rate, "rate", 400, "requests per second per cluster app, all workers together")
	fs.DurationVar(&o.readyWait, "ready-timeout", 30*time.Second, "how long a start may take until every instance listens")
	if err := benchkit.Parse(fs, args); err != nil {
		return o, err
	}
	var err error
	if o.sides, err = parseSides(*sides); err != nil {
		return o, err
	}
	if o.reps < 1 || o.conns < 1 || o.rate < 1 || o.warmup < 0 || o.after < time.Second ||
		o.wait < o.after || o.readyWait < time.Second {
		return o, errors.New("-reps, -conns and -rate must be at least 1, -warmup not negative, -after and -ready-timeout at least 1s, -wait at least -after")
	}
	return o, nil
}

// parseSides reads -managers: known names, each once, eco first.
func parseSides(s string) ([]string, error) {
	var sides []string
	for _, m := range strings.Split(s, ",") {
		m = strings.ToLower(strings.TrimSpace(m))
		if m == "" {
			continue
		}
		if !slices.Contains(allSides, m) {
			return nil, fmt.Errorf("-managers: unknown manager %q; want some of %s", m, strings.Join(allSides, ", "))
		}
		if !slices.Contains(sides, m) {
			sides = append(sides, m)
		}
	}
	if len(sides) == 0 {
		return nil, errors.New("-managers: none")
	}
	slices.SortFunc(sides, func(a, b string) int { return slices.Index(allSides, a) - slices.Index(allSides, b) })
	return sides, nil
}

// freePort is a loopback port the kernel says is free now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
