package monit

import (
	"fmt"
	"strings"
	"time"
)

// minLogLines is the least room the log gets when the instances do not all fit.
const minLogLines = 5

// Help is the keys line at the bottom.
const Help = "↑/↓ select · r restart · l reload · s stop · S start · q quit"

// View draws the screen: a header, one row per instance with its sparklines, the selected
// app's log in the space left, and the keys or the last action's outcome.
func (m Model) View() string {
	if m.quitting {
		return ""
	}
	w, h := max(m.width, 40), max(m.height, 10)
	var lines []string
	add := func(s string) { lines = append(lines, fit(s, w)) }

	instances := 0
	for _, a := range m.apps {
		instances += len(a.Instances)
	}
	add(fmt.Sprintf(" eco monit · %d apps · %d instances", len(m.apps), instances))
	if m.listErr != nil {
		add(" cannot list the apps: " + m.listErr.Error())
	}
	spark := max(min((w-83)/2, historyLen), 0) // 83 cells without the sparklines
	add(fmt.Sprintf("   %-16s %3s %7s %-15s %6s %s %9s %s %8s %7s", "APP", "#", "PID", "STATE", "CPU", pad("", spark), "MEM", pad("", spark), "RESTARTS", "UPTIME"))
	if len(m.apps) == 0 && m.listErr == nil {
		add(" No apps. Run one with: eco apply ecosystem.hcl")
	}
	// The rows, and where the selected app's start: when they do not all fit above the
	// log's minLogLines, a window of them that shows the selected app.
	var rows []string
	first := 0
	now := m.opts.Now()
	for _, a := range m.apps {
		mark := "  "
		if a.Name == m.selected {
			mark = "> "
			first = len(rows)
		}
		if len(a.Instances) == 0 {
			state := "no instances"
			if a.Stopped {
				state = "stopped"
			}
			rows = append(rows, fmt.Sprintf(" %s%-16s %3s %7s %-15s", mark, trunc(a.Name, 16), "-", "-", state))
			continue
		}
		for i, in := range a.Instances {
			name := ""
			if i == 0 {
				name = trunc(a.Name, 16)
			} else {
				mark = "  "
				if a.Name == m.selected {
					mark = "| "
				}
			}
			k := key(a.Name, in.Index)
			pid := "-"
			if in.Pid != 0 {
				pid = fmt.Sprint(in.Pid)
			}
			up := "-"
			if in.Pid != 0 && !in.Started.IsZero() {
				up = uptime(now.Sub(in.Started))
			}
			rows = append(rows, fmt.Sprintf(" %s%-16s %3d %7s %-15s %5.1f%% %s %9s %s %8d %7s", mark, name, in.Index, pid, trunc(string(in.State), 15),
				in.CPU, sparkline(m.cpu[k].values, spark, 100), bytes(in.Memory), sparkline(m.mem[k].values, spark, 0), in.Restarts, up))
		}
	}
	room := max(h-len(lines)-4-minLogLines, 1) // 4: two rules, the log's title, the keys
	if len(rows) > room {
		// One line says what is hidden; the selected app's first row is the window's first
		// unless the window would then run past the end.
		shown := max(room-1, 1)
		start := min(first, len(rows)-shown)
		for _, r := range rows[start : start+shown] {
			add(r)
		}
		add(fmt.Sprintf("   … %d rows above, %d below (↑/↓ select)", start, len(rows)-start-shown))
	} else {
		for _, r := range rows {
			add(r)
		}
	}
	add(strings.Repeat("─", w))
	title := " log"
	if m.selected != "" {
		title = " " + m.selected + " log"
		if m.logApp == m.selected {
			title += " (live)"
		}
	}
	add(title)
	logRoom := h - len(lines) - 2
	logs := m.logs
	if logRoom <= 0 {
		logs = nil
	} else if len(logs) > logRoom {
		logs = logs[len(logs)-logRoom:]
	}
	for _, l := range logs {
		add(" " + l)
	}
	for len(lines) < h-2 {
		lines = append(lines, "")
	}
	add(strings.Repeat("─", w))
	if m.status != "" {
		add(" " + m.status)
	} else {
		add(" " + Help)
	}
	return strings.Join(lines, "\n")
}

// fit cuts s to w cells (every character eco draws is one cell wide; tabs become spaces).
func fit(s string, w int) string {
	s = strings.ReplaceAll(s, "\t", "    ")
	r := []rune(s)
	if len(r) > w {
		r = r[:w]
	}
	return string(r)
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func pad(s string, n int) string { return s + strings.Repeat(" ", max(n-len([]rune(s)), 0)) }

func bytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	v, suffix := float64(b), []string{"KiB", "MiB", "GiB", "TiB"}
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f%s", v, suffix[i])
}

func uptime(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
