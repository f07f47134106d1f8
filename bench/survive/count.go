package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// chattyState is what one chatty process last wrote into its state file.
type chattyState struct {
	pid     int
	written int  // lines handed to stdout
	stopped bool // it got SIGUSR2 and writes no more
}

// parseState reads a chatty state file: the pid, the lines written, "running" or "stopped".
func parseState(data []byte) (chattyState, bool) {
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return chattyState{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	n, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || pid <= 0 || n < 0 {
		return chattyState{}, false
	}
	return chattyState{pid: pid, written: n, stopped: f[2] == "stopped"}, true
}

// readStates reads every state file in dir (hidden ones are being written), by pid.
func readStates(dir string) map[int]chattyState {
	entries, _ := os.ReadDir(dir)
	states := map[int]chattyState{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if st, ok := parseState(data); ok {
			states[st.pid] = st
		}
	}
	return states
}

// lineCount compares the chatty app's lines with its log files.
type lineCount struct {
	procs   int // chatty processes that ran
	written int // lines they handed to stdout
	found   int // of those, found in the log files (each once)
	dups    int // lines found more than once
	strays  int // numbered lines of no known process, or beyond what it says it wrote
}

// lost is how many written lines are in no log file.
func (c lineCount) lost() int { return c.written - c.found }

// seqLine reads "pid=PID seq=N" anywhere in a line (a manager may prefix a timestamp).
func seqLine(line []byte) (pid, seq int, ok bool) {
	i := bytes.Index(line, []byte("pid="))
	if i < 0 {
		return 0, 0, false
	}
	rest := string(line[i+len("pid="):])
	p, after, found := strings.Cut(rest, " seq=")
	if !found {
		return 0, 0, false
	}
	end := 0
	for end < len(after) && after[end] >= '0' && after[end] <= '9' {
		end++
	}
	var err1, err2 error
	pid, err1 = strconv.Atoi(p)
	seq, err2 = strconv.Atoi(after[:end])
	if err1 != nil || err2 != nil || end == 0 {
		return 0, 0, false
	}
	return pid, seq, true
}

// countLines reads every file in logDir (stdout and stderr files, rotated ones too) and counts
// which of the lines the states say were written are there.
func countLines(logDir string, states map[int]chattyState) lineCount {
	c := lineCount{procs: len(states)}
	seen := map[int][]bool{}
	for pid, st := range states {
		c.written += st.written
		seen[pid] = make([]bool, st.written)
	}
	entries, _ := os.ReadDir(logDir)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(logDir, e.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			pid, seq, ok := seqLine(sc.Bytes())
			if !ok {
				continue
			}
			s := seen[pid]
			switch {
			case seq >= len(s):
				c.strays++
			case s[seq]:
				c.dups++
			default:
				s[seq] = true
				c.found++
			}
		}
		f.Close()
	}
	return c
}

// allMarkers is every pid in every marker folder of every start under runs.
func allMarkers(runs string) []int {
	dirs, _ := filepath.Glob(filepath.Join(runs, "*", "marks", "*"))
	var pids []int
	for _, d := range dirs {
		pids = append(pids, benchkit.PidFiles(d)...)
	}
	slices.Sort(pids)
	return slices.Compact(pids)
}

// kept counts the pids of before that still run afterwards, and, when the manager answers
// again (listed is not nil), that it lists: the instances neither restarted nor lost.
func kept(before []int, running func(int) bool, listed []int) int {
	n := 0
	for _, pid := range before {
		if running(pid) && (listed == nil || slices.Contains(listed, pid)) {
			n++
		}
	}
	return n
}
