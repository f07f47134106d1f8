package export

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/eco-pm/eco/internal/testwait"
)

// TestKubernetes_PreStopHookStops runs the Deployment's preStop hook the way a container
// runtime does: the app is PID 1 of its own pid namespace, and the hook runs inside it. The
// hook sends the app's stop_signal, and returns once the app has exited.
func TestKubernetes_PreStopHookStops(t *testing.T) {
	for _, tool := range []string{"unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: no pid namespace for the hook", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("a pid namespace needs root here")
	}
	dir := t.TempDir()
	app := filepath.Join(dir, "app.sh")
	got, up := filepath.Join(dir, "got"), filepath.Join(dir, "up")
	script := "trap 'echo got INT > \"$1\"; exit 0' INT\necho up > \"$2\"\nwhile :; do sleep 1 & wait $!; done\n"
	if err := os.WriteFile(app, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	src := `app "web" {
  command = ["/bin/sh", "` + app + `", "` + got + `", "` + up + `"]
  stop_signal = "SIGINT"
}
`
	res := exportSource(t, "kubernetes", src)
	obj, err := strictKube(t, res.Files[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	c := obj.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil {
		t.Fatalf("no preStop exec hook for SIGINT: %+v", c.Lifecycle)
	}

	// The container: its command as PID 1 of a new pid namespace.
	ctr := exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc"}, append(c.Command, c.Args...)...)...)
	ctr.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ctr.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = ctr.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-ctr.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	testwait.For(t, "the app to start", 30*time.Second, func() bool {
		_, err := os.Stat(up)
		return err == nil
	})
	var pid1 string
	testwait.For(t, "the app's pid outside its namespace", 30*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(ctr.Process.Pid), "task", strconv.Itoa(ctr.Process.Pid), "children"))
		pid1, _, _ = strings.Cut(strings.TrimSpace(string(b)), " ")
		return pid1 != ""
	})

	// The hook, inside the container's pid namespace; it ends when the app does, at the latest
	// when the namespace goes with its PID 1.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hook := exec.CommandContext(ctx, "nsenter", append([]string{"-t", pid1, "--pid", "--mount", "--"}, c.Lifecycle.PreStop.Exec.Command...)...)
	out, _ := hook.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the hook did not return: %s", out)
	}
	b, err := os.ReadFile(got)
	if err != nil || strings.TrimSpace(string(b)) != "got INT" {
		t.Errorf("the app did not get SIGINT (%v, %q); hook output: %s", err, b, out)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Error("the container did not exit after the hook")
	}
}
