package monit

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/eco-pm/eco/runtime"
)

// Backend is what monit needs from the daemon; Client is the one over the control socket.
type Backend interface {
	// Apps lists the apps, as eco ls does.
	Apps(ctx context.Context) ([]runtime.AppStatus, error)
	// Act runs a verb (restart, reload, stop, start) on an app and returns what was done.
	Act(ctx context.Context, app, verb string) ([]string, error)
	// Logs returns the last n lines of app's log files, and its lines as they are written
	// until ctx ends (the channel is then closed).
	Logs(ctx context.Context, app string, n int) (tail []string, follow <-chan string, err error)
}

// Options tune the model; zero values take the defaults.
type Options struct {
	// Interval is how often the apps are listed (1s).
	Interval time.Duration
	// LogLines is how many lines of the selected app's log are kept (200).
	LogLines int
	// Now is the clock of the uptimes shown (time.Now).
	Now func() time.Time
}

// Model is eco monit's state. Update is pure: it returns a new Model and the commands that
// talk to the daemon; nothing else reads or writes outside it.
type Model struct {
	backend Backend
	opts    Options

	apps    []runtime.AppStatus
	listErr error
	// cpu and mem are each instance's recent samples, by "app/index".
	cpu, mem map[string]history
	// selected is the name of the selected app ("" before the first list).
	selected string
	// pending is a verb waiting for y to confirm it.
	pending string
	// status is the outcome of the last action, or a question.
	status string

	// The selected app's log: logApp is the app it follows, logGen counts the follows so that
	// lines of an older one are dropped, stopLog ends the current one.
	logApp  string
	logGen  int
	stopLog context.CancelFunc
	logs    []string

	width, height int
	quitting      bool
}

// New returns the model of eco monit over backend.
func New(backend Backend, opts Options) Model {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.LogLines <= 0 {
		opts.LogLines = 200
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return Model{backend: backend, opts: opts, cpu: map[string]history{}, mem: map[string]history{}, width: 100, height: 30}
}

// Messages.
type (
	tickMsg time.Time
	// appsMsg is a listing of the apps.
	appsMsg struct {
		apps []runtime.AppStatus
		err  error
	}
	// actedMsg is the outcome of a verb.
	actedMsg struct {
		verb, app string
		done      []string
		err       error
	}
	// logStartedMsg is a new follow of app's log: its tail and its lines to come.
	logStartedMsg struct {
		gen   int
		tail  []string
		lines <-chan string
		stop  context.CancelFunc
		err   error
	}
	// logLinesMsg are lines of follow gen; ended says the follow is over.
	logLinesMsg struct {
		gen   int
		lines []string
		ended bool
		next  <-chan string
	}
)

// Init lists the apps at once.
func (m Model) Init() tea.Cmd { return m.list() }

func (m Model) list() tea.Cmd {
	b := m.backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		apps, err := b.Apps(ctx)
		return appsMsg{apps: apps, err: err}
	}
}

func (m Model) tick() tea.Cmd {
	return tea.Tick(m.opts.Interval, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Update handles a message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case tickMsg:
		return m, m.list()
	case appsMsg:
		return m.listed(msg)
	case actedMsg:
		if msg.err != nil {
			m.status = fmt.Sprintf("%s %s: %v", msg.verb, msg.app, msg.err)
		} else {
			m.status = strings.Join(msg.done, "; ")
		}
		return m, m.list()
	case logStartedMsg:
		if msg.gen != m.logGen {
			return m, stopCmd(msg.stop)
		}
		m.stopLog = msg.stop
		if msg.err != nil {
			m.logs = []string{fmt.Sprintf("(cannot read the log: %v)", msg.err)}
			m.logApp = "" // the next listing tries again
			return m, nil
		}
		m.logs = m.keepLogs(append(m.logs[:0:0], msg.tail...))
		return m, waitLines(msg.gen, msg.lines)
	case logLinesMsg:
		if msg.gen != m.logGen {
			return m, nil
		}
		m.logs = m.keepLogs(append(m.logs[:len(m.logs):len(m.logs)], msg.lines...))
		if msg.ended {
			// The daemon ended the stream (it stopped or was replaced): the next listing
			// follows again, from a daemon that answers.
			m.logs = m.keepLogs(append(m.logs, "(the log stream ended)"))
			m.logApp = ""
			return m, nil
		}
		return m, waitLines(msg.gen, msg.next)
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
			// Keys typed faster than they are read come as one message: one key each.
			var cmds []tea.Cmd
			for _, r := range msg.Runes {
				next, cmd := m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt})
				m = next.(Model)
				cmds = append(cmds, cmd)
			}
			return m, tea.Batch(cmds...)
		}
		return m.key(msg)
	}
	return m, nil
}

// listed takes a new listing: samples for the sparklines, the selection kept (or the first
// app), and a follow of the selected app's log when it changed.
func (m Model) listed(msg appsMsg) (tea.Model, tea.Cmd) {
	next := m.tick()
	if msg.err != nil {
		m.listErr = msg.err
		return m, next
	}
	m.listErr = nil
	was := m.index(m.selected)
	m.apps = msg.apps
	cpu, mem := make(map[string]history, len(m.cpu)), make(map[string]history, len(m.mem))
	for _, a := range m.apps {
		for _, in := range a.Instances {
			k := key(a.Name, in.Index)
			if _, seen := cpu[k]; seen {
				continue // the old and the new instance of a rollout: the first (older) one
			}
			cpu[k] = m.cpu[k].add(in.CPU)
			mem[k] = m.mem[k].add(float64(in.Memory))
		}
	}
	m.cpu, m.mem = cpu, mem
	if m.index(m.selected) < 0 {
		// The selected app is gone (or none was): the one now in its place, or the last.
		m.selected = ""
		if len(m.apps) > 0 {
			m.selected = m.apps[min(max(was, 0), len(m.apps)-1)].Name
		}
	}
	m, follow := m.followSelected()
	return m, tea.Batch(next, follow)
}

func key(app string, index int) string { return fmt.Sprintf("%s/%d", app, index) }

// index is the position of the named app in the listing, -1 if none.
func (m Model) index(name string) int {
	for i, a := range m.apps {
		if a.Name == name {
			return i
		}
	}
	return -1
}

// followSelected starts following the selected app's log if it does not already.
func (m Model) followSelected() (Model, tea.Cmd) {
	if m.selected == m.logApp {
		return m, nil
	}
	stop := m.stopLog
	m.logApp, m.logGen, m.stopLog, m.logs = m.selected, m.logGen+1, nil, nil
	if m.selected == "" {
		return m, stopCmd(stop)
	}
	b, app, gen, n := m.backend, m.selected, m.logGen, m.opts.LogLines
	return m, tea.Batch(stopCmd(stop), func() tea.Msg {
		ctx, cancel := context.WithCancel(context.Background())
		tail, lines, err := b.Logs(ctx, app, n)
		if err != nil {
			cancel()
		}
		return logStartedMsg{gen: gen, tail: tail, lines: lines, stop: cancel, err: err}
	})
}

func stopCmd(stop context.CancelFunc) tea.Cmd {
	if stop == nil {
		return nil
	}
	return func() tea.Msg {
		stop()
		return nil
	}
}

// waitLines waits for the next lines of follow gen: one, then whatever else is already there.
func waitLines(gen int, lines <-chan string) tea.Cmd {
	return func() tea.Msg {
		first, ok := <-lines
		if !ok {
			return logLinesMsg{gen: gen, ended: true}
		}
		out := []string{first}
		for len(out) < 500 {
			select {
			case l, ok := <-lines:
				if !ok {
					return logLinesMsg{gen: gen, lines: out, ended: true}
				}
				out = append(out, l)
			default:
				return logLinesMsg{gen: gen, lines: out, next: lines}
			}
		}
		return logLinesMsg{gen: gen, lines: out, next: lines}
	}
}

// keepLogs keeps the last LogLines lines.
func (m Model) keepLogs(lines []string) []string {
	if over := len(lines) - m.opts.LogLines; over > 0 {
		return append([]string(nil), lines[over:]...)
	}
	return lines
}

// verbs are the keys that act on the selected app, each confirmed with y.
var verbs = map[string]string{"r": "restart", "l": "reload", "s": "stop", "S": "start"}

func (m Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	s := k.String()
	if m.pending != "" {
		verb := m.pending
		m.pending = ""
		if s != "y" {
			m.status = verb + " cancelled"
			return m, nil
		}
		m.status = verb + " " + m.selected + "…"
		b, app := m.backend, m.selected
		return m, func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			done, err := b.Act(ctx, app, verb)
			return actedMsg{verb: verb, app: app, done: done, err: err}
		}
	}
	switch s {
	case "q", "ctrl+c", "esc":
		m.quitting = true
		return m, tea.Batch(stopCmd(m.stopLog), tea.Quit)
	case "up", "k", "down", "j":
		if len(m.apps) == 0 {
			return m, nil
		}
		i := m.index(m.selected)
		if s == "up" || s == "k" {
			i = max(i-1, 0)
		} else {
			i = min(i+1, len(m.apps)-1)
		}
		m.selected = m.apps[i].Name
		m.status = ""
		return m.followSelected()
	}
	if verb, ok := verbs[s]; ok && m.selected != "" {
		m.pending = verb
		m.status = fmt.Sprintf("%s %s? y to confirm, any other key cancels", verb, m.selected)
	}
	return m, nil
}
