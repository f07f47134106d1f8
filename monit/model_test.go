package monit

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/runtime"
)

// fake is a Backend with fixed answers that records the verbs and follows asked of it.
type fake struct {
	mu      sync.Mutex
	apps    []runtime.AppStatus
	acts    []string
	follows []string
	ctxs    []context.Context // of the follows
	actErr  error
}

func (f *fake) Apps(context.Context) ([]runtime.AppStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apps, nil
}

func (f *fake) Act(_ context.Context, app, verb string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acts = append(f.acts, verb+" "+app)
	if f.actErr != nil {
		return nil, f.actErr
	}
	return []string{verb + "ed " + app}, nil
}

// Logs returns a tail of two lines and a follow that has one line and is closed.
func (f *fake) Logs(ctx context.Context, app string, n int) ([]string, <-chan string, error) {
	f.mu.Lock()
	f.follows = append(f.follows, app)
	f.mu.Unlock()
	ch := make(chan string, 1)
	ch <- app + " live"
	close(ch)
	f.mu.Lock()
	f.ctxs = append(f.ctxs, ctx)
	f.mu.Unlock()
	return []string{app + " old 1", app + " old 2"}, ch, nil
}

// drive feeds msg to m, then runs every command that results and feeds their messages back,
// until none is left; ticks are left out (they would list the apps forever).
func drive(t *testing.T, m Model, msg tea.Msg) Model {
	t.Helper()
	queue := []tea.Msg{msg}
	for len(queue) > 0 && len(queue) < 1000 {
		msg, queue = queue[0], queue[1:]
		if _, ok := msg.(tickMsg); ok {
			continue
		}
		next, cmd := m.Update(msg)
		m = next.(Model)
		queue = append(queue, run(cmd)...)
	}
	return m
}

// run runs cmd and the commands of a batch, and returns their messages.
func run(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, run(c)...)
		}
		return out
	}
	if msg == nil || reflect.TypeOf(msg).String() == "tea.quitMsg" {
		return nil
	}
	return []tea.Msg{msg}
}

func apps(cpu float64) []runtime.AppStatus {
	return []runtime.AppStatus{
		{Name: "api", Instances: []runtime.InstanceStatus{
			{Index: 0, Pid: 100, State: runtime.Online, CPU: cpu, Memory: 20 << 20, Restarts: 2},
			{Index: 1, Pid: 101, State: runtime.Online, CPU: cpu / 2, Memory: 30 << 20},
		}},
		{Name: "worker", Stopped: true},
	}
}

func newModel(f *fake) Model {
	return New(f, Options{Interval: time.Millisecond, LogLines: 4, Now: func() time.Time { return time.Unix(1000, 0) }})
}

func TestModel_ListAndFollow(t *testing.T) {
	f := &fake{apps: apps(10)}
	m := drive(t, newModel(f), appsMsg{apps: apps(10)})
	if m.selected != "api" || !cmp.Equal(f.follows, []string{"api"}) {
		t.Fatalf("selected %q, followed %q; want api", m.selected, f.follows)
	}
	if diff := cmp.Diff([]string{"api old 1", "api old 2", "api live", "(the log stream ended)"}, m.logs); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	// The fake's follow has ended: the next listing follows again.
	if m.logApp != "" {
		t.Errorf("after its end, the follow of %q is still current", m.logApp)
	}
	m = drive(t, m, appsMsg{apps: apps(40)})
	if diff := cmp.Diff([]float64{10, 40}, m.cpu["api/0"].values); diff != "" {
		t.Errorf("cpu history (-want +got):\n%s", diff)
	}
	if got := m.mem["api/1"].values; len(got) != 2 || got[1] != 30<<20 {
		t.Errorf("memory history %v", got)
	}
	if len(f.follows) != 2 {
		t.Errorf("follows %q: want api's again after its end", f.follows)
	}

	// A listing error is shown, and the apps stay.
	m = drive(t, m, appsMsg{err: errors.New("no daemon")})
	if m.listErr == nil || len(m.apps) != 2 || !strings.Contains(m.View(), "cannot list the apps: no daemon") {
		t.Errorf("after an error: %v, %d apps", m.listErr, len(m.apps))
	}
	// The selected app gone: the one in its place is selected.
	m = drive(t, m, appsMsg{apps: apps(1)[1:]})
	if m.selected != "worker" || f.follows[len(f.follows)-1] != "worker" {
		t.Errorf("after api went: selected %q, followed %q", m.selected, f.follows)
	}
}

func TestModel_Keys(t *testing.T) {
	f := &fake{apps: apps(10)}
	m := drive(t, newModel(f), appsMsg{apps: apps(10)})
	press := func(k string) {
		t.Helper()
		var msg tea.KeyMsg
		switch k {
		case "down", "up":
			msg = tea.KeyMsg{Type: map[string]tea.KeyType{"down": tea.KeyDown, "up": tea.KeyUp}[k]}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		m = drive(t, m, msg)
	}
	press("down")
	if m.selected != "worker" || !cmp.Equal(f.follows, []string{"api", "worker"}) || m.logGen != 2 {
		t.Fatalf("down: selected %q, followed %q (gen %d)", m.selected, f.follows, m.logGen)
	}
	if len(f.ctxs) != 2 || f.ctxs[0].Err() == nil || f.ctxs[1].Err() != nil {
		t.Errorf("after down, the follow of api is not stopped, or that of worker is")
	}
	press("down") // stays on the last
	press("up")
	if m.selected != "api" {
		t.Fatalf("up: selected %q", m.selected)
	}

	press("s")
	if m.pending != "stop" || !strings.Contains(m.View(), "stop api? y to confirm") {
		t.Errorf("s: pending %q, status %q", m.pending, m.status)
	}
	press("n")
	if m.pending != "" || m.status != "stop cancelled" || len(f.acts) != 0 {
		t.Errorf("n: pending %q, status %q, acts %q", m.pending, m.status, f.acts)
	}
	for _, c := range []struct{ key, verb string }{{"r", "restart"}, {"l", "reload"}, {"s", "stop"}, {"S", "start"}} {
		press(c.key)
		press("y")
		if want := c.verb + "ed api"; m.status != want {
			t.Errorf("%s y: status %q, want %q", c.key, m.status, want)
		}
	}
	if diff := cmp.Diff([]string{"restart api", "reload api", "stop api", "start api"}, f.acts); diff != "" {
		t.Errorf("verbs (-want +got):\n%s", diff)
	}
	// Keys that arrive together (typed fast, or sent by tmux at once) act one by one.
	press("ry")
	if m.status != "restarted api" || f.acts[len(f.acts)-1] != "restart api" {
		t.Errorf("ry: status %q, acts %q", m.status, f.acts)
	}
	f.actErr = errors.New("held")
	press("r")
	press("y")
	if m.status != "restart api: held" {
		t.Errorf("failed verb: status %q", m.status)
	}

	next, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	if m = next.(Model); !m.quitting || cmd == nil || m.View() != "" {
		t.Errorf("q: quitting %v, cmd %v", m.quitting, cmd != nil)
	}
}

func TestModel_StaleLogLines(t *testing.T) {
	f := &fake{}
	m := newModel(f)
	m.logGen, m.logs = 3, []string{"a"}
	stopped := false
	next, cmd := m.Update(logStartedMsg{gen: 2, tail: []string{"old"}, stop: func() { stopped = true }})
	m = next.(Model)
	run(cmd)
	if !stopped || len(m.logs) != 1 {
		t.Errorf("a stale follow: stopped %v, logs %q", stopped, m.logs)
	}
	next, _ = m.Update(logLinesMsg{gen: 2, lines: []string{"old"}})
	if m = next.(Model); len(m.logs) != 1 {
		t.Errorf("stale lines kept: %q", m.logs)
	}
	next, _ = m.Update(logLinesMsg{gen: 3, lines: []string{"b", "c", "d", "e"}, ended: false, next: make(chan string)})
	if m = next.(Model); !cmp.Equal(m.logs, []string{"b", "c", "d", "e"}) {
		t.Errorf("LogLines 4 keeps the last 4: %q", m.logs)
	}
}

func TestModel_View(t *testing.T) {
	f := &fake{apps: apps(50)}
	m := drive(t, newModel(f), appsMsg{apps: apps(50)})
	m = drive(t, m, appsMsg{apps: apps(100)})
	m = drive(t, m, tea.WindowSizeMsg{Width: 120, Height: 16})
	v := m.View()
	lines := strings.Split(v, "\n")
	if len(lines) != 16 {
		t.Errorf("%d lines for a height of 16:\n%s", len(lines), v)
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > 120 {
			t.Errorf("line of %d cells: %q", n, l)
		}
	}
	for _, want := range []string{"eco monit · 2 apps · 2 instances", "> api", "online", "20.0MiB", "30.0MiB", "▅█", "worker", "stopped",
		"api log", "api live", "(the log stream ended)", Help} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	if m.logApp = "api"; !strings.Contains(m.View(), "api log (live)") {
		t.Errorf("a current follow is not marked live:\n%s", m.View())
	}
	// Narrow: no sparklines, nothing wider than the screen.
	m = drive(t, m, tea.WindowSizeMsg{Width: 50, Height: 12})
	for _, l := range strings.Split(m.View(), "\n") {
		if n := len([]rune(l)); n > 50 {
			t.Errorf("narrow: line of %d cells: %q", n, l)
		}
	}
}

func TestSparkline(t *testing.T) {
	cases := []struct {
		values []float64
		width  int
		top    float64
		want   string
	}{
		{nil, 4, 100, "    "},
		{[]float64{0, 50, 100}, 3, 100, "▁▅█"},
		{[]float64{0, 50, 100}, 5, 200, "  ▁▃▅"},
		{[]float64{1, 2, 3, 4}, 2, 0, "▆█"},
		{[]float64{5}, 0, 0, ""},
	}
	for _, c := range cases {
		if got := sparkline(c.values, c.width, c.top); got != c.want {
			t.Errorf("sparkline(%v, %d, %v) = %q, want %q", c.values, c.width, c.top, got, c.want)
		}
	}
	var h history
	for i := range historyLen + 5 {
		h = h.add(float64(i))
	}
	if len(h.values) != historyLen || h.values[0] != 5 {
		t.Errorf("history keeps %d values from %v", len(h.values), h.values[0])
	}
}

// TestModel_ViewManyInstances: a thousand instances do not push the header and the log off
// the screen; the selected app is in view, and a line says what is hidden.
func TestModel_ViewManyInstances(t *testing.T) {
	var list []runtime.AppStatus
	for a := range 10 {
		app := runtime.AppStatus{Name: fmt.Sprintf("app%d", a)}
		for i := range 100 {
			app.Instances = append(app.Instances, runtime.InstanceStatus{Index: i, Pid: 1000 + 100*a + i, State: runtime.Online})
		}
		list = append(list, app)
	}
	f := &fake{apps: list}
	m := drive(t, newModel(f), appsMsg{apps: list})
	m = drive(t, m, tea.WindowSizeMsg{Width: 120, Height: 30})
	for range 7 {
		m = drive(t, m, tea.KeyMsg{Type: tea.KeyDown})
	}
	v := m.View()
	lines := strings.Split(v, "\n")
	if len(lines) != 30 || !strings.HasPrefix(lines[0], " eco monit · 10 apps · 1000 instances") {
		t.Fatalf("%d lines:\n%s", len(lines), v)
	}
	for _, want := range []string{"> app7", "   1700", "… 700 rows above, ", "app7 log", Help} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	logTitle := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, " app7 log") })
	if logTitle < 0 || len(lines)-logTitle-2 < minLogLines {
		t.Errorf("the log has %d lines:\n%s", len(lines)-logTitle-2, v)
	}
	// The last app: its first rows.
	for range 5 {
		m = drive(t, m, tea.KeyMsg{Type: tea.KeyDown})
	}
	if v := m.View(); !strings.Contains(v, "> app9") || !strings.Contains(v, "   1900") || !strings.Contains(v, "… 900 rows above") {
		t.Errorf("last app selected:\n%s", v)
	}
	// A short last app: the window ends with the rows, nothing below.
	list = append(list[:9:9], runtime.AppStatus{Name: "tail", Instances: []runtime.InstanceStatus{{Index: 0, Pid: 7, State: runtime.Online}}})
	m = drive(t, m, appsMsg{apps: list}) // app9 is gone: tail takes its place
	if v := m.View(); !strings.Contains(v, "> tail") || !strings.Contains(v, "   1899") || !strings.Contains(v, " 0 below") {
		t.Errorf("short last app selected:\n%s", v)
	}
}
