package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// heldMarker is ECO_HOME/starting.json as the tests read it.
type heldMarker struct {
	Pid      int               `json:"pid"`
	Starting []string          `json:"starting"`
	Deaths   map[string]int    `json:"deaths"`
	Held     map[string]string `json:"held"`
}

func readMarker(home string) (heldMarker, bool) {
	var m heldMarker
	b, err := os.ReadFile(filepath.Join(home, "starting.json"))
	return m, err == nil && json.Unmarshal(b, &m) == nil
}

// heldSetup writes a project "crashy" whose start never settles while the test runs: "after"
// waits (depends_on) for the one-shot "gate", which finishes once the file open exists. The
// other apps are the test's (extra, in HCL); the daemon is started by an apply that does not wait.
func heldSetup(t *testing.T, extra string) (file, open string) {
	t.Helper()
	dir := t.TempDir()
	open = filepath.Join(dir, "open")
	gate := filepath.Join(dir, "gate.sh")
	if err := os.WriteFile(gate, []byte("#!/bin/sh\nwhile [ ! -e "+open+" ]; do sleep 0.05; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`project = "crashy"
app "gate" {
  script      = %[1]q
  autorestart = false
}
app "after" {
  command    = [%[2]q]
  env        = { ECO_TEST_HELPER = "sleep" }
  depends_on = ["gate"]
}
%[3]s`, gate, exe, extra)
	file = filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, open
}

// killWhileStarting SIGKILLs the daemon twice while it starts project crashy (after has not
// started: the project is not settled, nor adopted whole), each time once the marker counts the
// deaths so far; the keeper starts the next daemon by itself. during, if set, runs before the
// second kill takes effect, while the keeper is stopped, so that no daemon runs. It returns
// the third daemon, which holds the project.
func killWhileStarting(t *testing.T, home string, cl *control.Client, during func()) runtime.Ping {
	t.Helper()
	var p runtime.Ping
	for death := range holdAfter {
		waitFor(t, fmt.Sprintf("a daemon to mark crashy, with %d deaths", death), func() bool {
			var err error
			p, err = ping(cl)
			m, ok := readMarker(home)
			return err == nil && ok && m.Pid == p.Pid && slices.Equal(m.Starting, []string{"crashy"}) && m.Deaths["crashy"] == death
		})
		if p.Keeper == 0 {
			t.Fatalf("ping: %+v; want a daemon under a keeper", p)
		}
		if death == holdAfter-1 && during != nil {
			if err := syscall.Kill(p.Keeper, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			keeper := p.Keeper
			t.Cleanup(func() { _ = syscall.Kill(keeper, syscall.SIGCONT) })
			if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			during()
			if err := syscall.Kill(p.Keeper, syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		} else if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p, _ = waitNewDaemon(t, cl, p.Pid, time.Now())
	}
	waitFor(t, "the daemon to hold crashy", func() bool {
		m, ok := readMarker(home)
		return ok && m.Held["crashy"] != ""
	})
	return p
}

// appsByName returns the apps the daemon lists, by name.
func appsByName(cl *control.Client) map[string]runtime.AppStatus {
	var apps []runtime.AppStatus
	if cl.Do(context.Background(), "GET", "/v1/apps", nil, &apps) != nil {
		return nil
	}
	out := map[string]runtime.AppStatus{}
	for _, a := range apps {
		out[a.Name] = a
	}
	return out
}

// pidOf is the pid of app's instance 0, 0 for none.
func pidOf(apps map[string]runtime.AppStatus, app string) int {
	if a := apps[app]; len(a.Instances) > 0 {
		return a.Instances[0].Pid
	}
	return 0
}

// helpers lists the live processes of the test binary run as a helper (ECO_TEST_HELPER) for
// this home: the apps' instances.
func helpers(home string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, []byte("ECO_HOME="+home+"\x00")) || !bytes.Contains(env, []byte("\x00ECO_TEST_HELPER=")) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && !bytes.Contains(st, []byte(") Z ")) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// TestCLI_HeldProjectKeepsWhatRuns: two SIGKILLs of the daemon while it starts a project make
// the next daemon hold it. What a previous daemon left running of it is adopted, not ended: the
// same pids, the output still reaches the log file, an instance killed while no daemon ran has
// its exit status shown and is not restarted, and nothing new starts, not even an app whose
// dependency finished meanwhile. More SIGKILLs of the held daemon, one as soon as it answers,
// change none of that. eco start then starts what is missing, and the log holds every line once.
func TestCLI_HeldProjectKeepsWhatRuns(t *testing.T) {
	chattyLog := filepath.Join(t.TempDir(), "chatty.out.log") // removed after the daemon ends
	home := ecoHome(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	file, open := heldSetup(t, fmt.Sprintf(`app "chatty" {
  command    = [%[1]q]
  env        = { ECO_TEST_HELPER = "chatty" }
  out_file   = %[2]q
  merge_logs = true
}
app "victim" {
  command    = [%[1]q]
  env        = { ECO_TEST_HELPER = "sleep" }
  min_uptime = "1h"
}
`, exe, chattyLog))
	cl := control.NewClient(home)
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(home, "daemon.log"))
			t.Logf("daemon.log:\n%s", log)
		}
	})
	if stdout, stderr, code := runEco(t, "apply", "--no-wait", "--no-watch", file); code != 0 {
		t.Fatalf("apply (exit %d):\n%s%s", code, stdout, stderr)
	}
	var before map[string]runtime.AppStatus
	waitFor(t, "chatty, victim and gate to run", func() bool {
		before = appsByName(cl)
		return pidOf(before, "chatty") != 0 && pidOf(before, "victim") != 0 && pidOf(before, "gate") != 0
	})
	chatty, victim, gate := pidOf(before, "chatty"), pidOf(before, "victim"), pidOf(before, "gate")

	p := killWhileStarting(t, home, cl, func() {
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	})
	heldOK := func(apps map[string]runtime.AppStatus) string {
		for _, name := range []string{"chatty", "victim", "gate", "after"} {
			if a, ok := apps[name]; !ok || !a.Held || !strings.Contains(a.Message, "held") {
				return fmt.Sprintf("%s is not listed as held: %+v", name, a)
			}
		}
		switch {
		case pidOf(apps, "chatty") != chatty:
			return fmt.Sprintf("chatty's pid is %d, was %d", pidOf(apps, "chatty"), chatty)
		case len(apps["after"].Instances) != 0:
			return fmt.Sprintf("after was started while held: %+v", apps["after"].Instances)
		case len(apps["victim"].Instances) != 1:
			return fmt.Sprintf("victim: %+v", apps["victim"].Instances)
		}
		v := apps["victim"].Instances[0]
		if v.Pid != 0 || v.State != runtime.WaitingRestart || !strings.Contains(v.Reason, "killed by SIGKILL") || !strings.Contains(v.Reason, "held") {
			return fmt.Sprintf("victim, killed while no daemon ran: %+v; want not restarted, its exit status shown", v)
		}
		return ""
	}
	var apps map[string]runtime.AppStatus
	why := "no answer"
	waitForOr(t, "the held project's instances adopted", func() bool {
		apps = appsByName(cl)
		why = heldOK(apps)
		return why == "" && pidOf(apps, "gate") == gate
	}, func() string { return why })
	if got := helpers(home); !slices.Equal(got, []int{chatty}) {
		t.Errorf("helper processes while held: %v; want chatty's alone (%d)", got, chatty)
	}
	stdout, _, _ := runEco(t, "ls")
	if !strings.Contains(stdout, "held") || !strings.Contains(stdout, strconv.Itoa(chatty)) {
		t.Errorf("eco ls while held:\n%s", stdout)
	}
	t.Logf("eco ls while held:\n%s", stdout)

	// Its output still reaches the log file.
	size := func() int64 {
		st, err := os.Stat(chattyLog)
		if err != nil {
			return 0
		}
		return st.Size()
	}
	grown := size() + 4096
	waitFor(t, "chatty's log to grow while held", func() bool { return size() > grown })

	// gate finishes: after's dependency is met, and it still does not start while held.
	if err := os.WriteFile(open, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "gate to finish", func() bool {
		apps = appsByName(cl)
		g := apps["gate"]
		return len(g.Instances) == 1 && g.Instances[0].Finished
	})
	// A kill of the held daemon, then one of the next as soon as it answers (its runners
	// are adopting): still held, still the same pids.
	for range 2 {
		if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p, _ = waitNewDaemon(t, cl, p.Pid, time.Now())
	}
	waitForOr(t, "the held project adopted again", func() bool {
		apps = appsByName(cl)
		why = heldOK(apps)
		return why == ""
	}, func() string { return why })
	if got := helpers(home); !slices.Equal(got, []int{chatty}) {
		t.Errorf("helper processes while held: %v; want chatty's alone (%d)", got, chatty)
	}

	// eco start releases the project: victim and after start, chatty runs on.
	if stdout, stderr, code := runEco(t, "start", "after"); code != 0 {
		t.Fatalf("start after (exit %d):\n%s%s", code, stdout, stderr)
	}
	waitForOr(t, "the released project to start what is missing", func() bool {
		apps = appsByName(cl)
		for _, a := range apps {
			if a.Held {
				why = a.Name + " still held"
				return false
			}
		}
		why = fmt.Sprintf("%+v", apps)
		return pidOf(apps, "after") != 0 && pidOf(apps, "victim") != 0 && pidOf(apps, "victim") != victim && pidOf(apps, "chatty") == chatty
	}, func() string { return why })
	if m, ok := readMarker(home); ok && len(m.Held) != 0 {
		t.Errorf("marker after the release: %+v", m)
	}
	checkChattyLog(t, chattyLog)
}

// TestCLI_HeldProjectDeleteAndApply: eco delete of an app of a held project ends its adopted
// instance and what it left running (a setsid double fork), and keeps the others held; an
// apply of a changed file ends the hold and carries the change out on the adopted instances
// (replaced, none left behind). A SIGKILL of the daemon right after that apply starts it again
// and holds nothing: one death may have another cause.
func TestCLI_HeldProjectDeleteAndApply(t *testing.T) {
	dir := t.TempDir() // before the home: its cleanup (which ends the daemon) runs first
	home := ecoHome(t)
	tag := fmt.Sprintf("eco-held-escape-%d", os.Getpid())
	esc := filepath.Join(dir, "esc.sh")
	script := "#!/bin/bash\n( setsid bash -c 'while true; do sleep 1; done # " + tag + "' & )\n" +
		"nohup bash -c 'while true; do sleep 1; done # " + tag + "' >/dev/null 2>&1 &\nwhile true; do sleep 1; done\n"
	if err := os.WriteFile(esc, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killTagged(tag) })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	worker := func(env string) string {
		return fmt.Sprintf("app \"worker\" {\n  command = [%q]\n  env = { ECO_TEST_HELPER = \"sleep\"%s }\n}\n", exe, env)
	}
	file, _ := heldSetup(t, worker("")+fmt.Sprintf("app \"esc\" {\n  script = %q\n}\n", esc))
	cl := control.NewClient(home)
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(home, "daemon.log"))
			t.Logf("daemon.log:\n%s", log)
		}
	})
	if stdout, stderr, code := runEco(t, "apply", "--no-wait", "--no-watch", file); code != 0 {
		t.Fatalf("apply (exit %d):\n%s%s", code, stdout, stderr)
	}
	var apps map[string]runtime.AppStatus
	waitFor(t, "worker, esc and both its escapees to run", func() bool {
		apps = appsByName(cl)
		return pidOf(apps, "worker") != 0 && pidOf(apps, "esc") != 0 && len(tagged(tag)) == 2
	})
	workerPid, escPid := pidOf(apps, "worker"), pidOf(apps, "esc")

	killWhileStarting(t, home, cl, nil)
	waitFor(t, "worker and esc adopted, held", func() bool {
		apps = appsByName(cl)
		return apps["worker"].Held && apps["esc"].Held && pidOf(apps, "worker") == workerPid && pidOf(apps, "esc") == escPid
	})

	// eco delete ends esc, its escapees too, and the project stays held.
	if stdout, stderr, code := runEco(t, "delete", "esc"); code != 0 {
		t.Fatalf("delete esc (exit %d):\n%s%s", code, stdout, stderr)
	}
	waitFor(t, "nothing of esc to run after eco delete", func() bool {
		apps = appsByName(cl)
		_, listed := apps["esc"]
		return !listed && len(tagged(tag)) == 0 && syscall.Kill(escPid, 0) != nil
	})
	if !apps["worker"].Held || pidOf(apps, "worker") != workerPid {
		t.Fatalf("worker after deleting esc: %+v; want it held, pid %d", apps["worker"], workerPid)
	}

	// An apply of a changed file (worker's env, a restart-class change; esc gone) ends the
	// hold: worker is replaced, and its old process ends.
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(src), worker(""), worker(", CHANGED = \"1\""), 1)
	changed = changed[:strings.Index(changed, "app \"esc\"")]
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runEco(t, "apply", "--no-wait", "--no-watch", file); code != 0 {
		t.Fatalf("apply of the changed file (exit %d):\n%s%s", code, stdout, stderr)
	}
	p, err := ping(cl)
	if err != nil {
		t.Fatal(err)
	}
	// At once: the project is being started again (marked), worker's rollout maybe half done.
	if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitNewDaemon(t, cl, p.Pid, time.Now())
	waitFor(t, "worker replaced by the changed file, nothing held", func() bool {
		apps = appsByName(cl)
		for _, a := range apps {
			if a.Held {
				return false
			}
		}
		w := apps["worker"]
		return len(w.Instances) == 1 && w.Instances[0].Pid != 0 && w.Instances[0].Pid != workerPid &&
			syscall.Kill(workerPid, 0) != nil && slices.Equal(helpers(home), []int{w.Instances[0].Pid})
	})
	var one runtime.AppStatus
	if err := cl.Do(context.Background(), "GET", "/v1/apps/worker", nil, &one); err != nil || one.Config == nil || one.Config.Env["CHANGED"] != "1" {
		t.Errorf("worker's config after the apply: %+v, %v", one.Config, err)
	}
}

// TestCLI_RolloutLeftByADeadDaemonGoesOn: a daemon SIGKILLed during the rollout of an apply
// (the new instance is not ready yet) leaves the old process and the new one; the next daemon
// adopts the old one, which keeps serving, and rolls it out again with the applied settings,
// instead of running the old settings for good.
func TestCLI_RolloutLeftByADeadDaemonGoesOn(t *testing.T) {
	home := ecoHome(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ecosystem.hcl")
	write := func(env, extra string) {
		src := fmt.Sprintf("project = \"roll\"\napp \"worker\" {\n  command = [%q]\n  env = { ECO_TEST_HELPER = \"sleep\"%s }\n  min_uptime = 100\n%s}\n", exe, env, extra)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("", "")
	if stdout, stderr, code := runEco(t, "apply", "--no-watch", file); code != 0 {
		t.Fatalf("apply (exit %d):\n%s%s", code, stdout, stderr)
	}
	cl := control.NewClient(home)
	old := pidOf(appsByName(cl), "worker")
	// The new settings never get ready: the rollout waits with both processes running.
	write(`, CHANGED = "1"`, "  wait_ready = true\n  listen_timeout = \"10m\"\n")
	if stdout, stderr, code := runEco(t, "apply", "--no-wait", "--no-watch", file); code != 0 {
		t.Fatalf("apply of the change (exit %d):\n%s%s", code, stdout, stderr)
	}
	changed := func() []int {
		var out []int
		for _, pid := range helpers(home) {
			env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if bytes.Contains(env, []byte("\x00CHANGED=1\x00")) {
				out = append(out, pid)
			}
		}
		return out
	}
	var first []int
	waitFor(t, "the rollout's new process", func() bool { first = changed(); return len(first) == 1 })
	p, err := ping(cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitNewDaemon(t, cl, p.Pid, time.Now())
	waitFor(t, "the old process adopted and a new rollout begun", func() bool {
		now := changed()
		return syscall.Kill(first[0], 0) != nil && len(now) == 1 && now[0] != first[0] && slices.Contains(helpers(home), old)
	})
	apps := appsByName(cl)
	w := apps["worker"]
	if len(w.Instances) != 2 || w.Instances[0].Pid != old {
		t.Errorf("worker's instances: %+v; want the old one (pid %d) serving and a new one", w.Instances, old)
	}
}
