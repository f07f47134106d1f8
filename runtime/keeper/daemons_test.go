package keeper

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// daemon is a daemon helper: the test's stand-in for the eco daemon under a keeper.
type daemon struct {
	c   *Conn
	dir string
	gen int
	exe string
	ctx context.Context
}

func runDaemon(role string) int {
	raw := -1
	if role == "store" {
		// A second descriptor on the same socket, to send what the client never would.
		fd, _ := strconv.Atoi(os.Getenv(EnvFD))
		raw, _ = unix.Dup(fd)
	}
	c, err := Connect()
	if err != nil {
		return fail(err)
	}
	exe, _ := os.Executable()
	d := &daemon{c: c, dir: os.Getenv("KEEPER_DIR"), gen: c.Starts(), exe: exe, ctx: context.Background()}
	d.emit(event{Ev: "hello", Args: os.Args[1:]})
	if err := d.play(role, raw); err != nil {
		d.emit(event{Ev: "fail", Text: err.Error()})
		return fail(err)
	}
	return 0
}

func (d *daemon) emit(e event) {
	e.Gen, e.Pid, e.Time = d.gen, os.Getpid(), time.Now()
	b, _ := json.Marshal(e)
	f, err := os.OpenFile(filepath.Join(d.dir, "events"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.Write(append(b, '\n'))
}

func (d *daemon) spawn(helper, tag string, files ...FileRef) (Child, error) {
	return d.c.Spawn(d.ctx, SpawnSpec{Argv: []string{d.exe}, Env: childEnv(helper), Tag: tag, Setpgid: true, Files: files})
}

// watchExits reports every exit, acknowledging those ack accepts, until the connection ends.
func (d *daemon) watchExits(ack func(Exit) bool) {
	for e := range d.c.Exits() {
		acked := ack(e)
		if acked {
			if err := d.c.Ack(d.ctx, e.Seq); err != nil {
				d.emit(event{Ev: "fail", Text: err.Error()})
			}
		}
		d.emit(event{Ev: "exit", Exit: &e, Acked: acked})
	}
}

func all(Exit) bool { return true }

func (d *daemon) play(role string, raw int) error {
	switch role {
	case "idle":
		select {}
	case "spawn":
		return d.playSpawn()
	case "chatty":
		return d.playChatty()
	case "exits":
		if d.gen == 1 {
			var kids []Child
			for _, tag := range []string{"A", "B", "C", "D"} {
				c, err := d.spawn("sleep", tag)
				if err != nil {
					return err
				}
				kids = append(kids, c)
			}
			d.emit(event{Ev: "spawned", Children: kids})
			first := true // only the first exit is acknowledged
			d.watchExits(func(Exit) bool { ok := first; first = false; return ok })
		}
		d.watchExits(all)
	case "listener":
		return d.playListener()
	case "orphans":
		return d.playOrphans()
	case "shutdown":
		if err := d.c.Shutdown(d.ctx); err != nil {
			return err
		}
		d.emit(event{Ev: "shutdown"})
	case "crash":
		f, err := os.OpenFile(filepath.Join(d.dir, "starts"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintln(f, time.Now().UnixNano())
		f.Close()
		os.Exit(1)
	case "upgrade":
		return d.playUpgrade()
	case "upgrade-bad":
		if d.gen == 1 {
			// Executable, so Upgrade takes it, but not a program: the keeper's exec fails.
			bad := filepath.Join(d.dir, "not-a-program")
			if err := os.WriteFile(bad, []byte("garbage"), 0o755); err != nil {
				return err
			}
			if err := d.c.Upgrade(d.ctx, []string{bad}); err != nil {
				return err
			}
			d.emit(event{Ev: "upgrading"})
			os.Exit(0)
		}
		select {}
	case "store":
		return d.playStore(raw)
	case "concurrent":
		return d.playConcurrent()
	case "footprint":
		return d.playFootprint()
	}
	return fmt.Errorf("unknown daemon role %q", role)
}

func (d *daemon) playSpawn() error {
	sleep, err := d.spawn("sleep", "sleep")
	if err != nil {
		return err
	}
	d.emit(event{Ev: "spawned", Tag: "sleep", Child: sleep})

	// Output through a descriptor passed with the request and one from the store.
	r1, w1, _ := os.Pipe()
	r2, w2, _ := os.Pipe()
	if err := d.c.Put(d.ctx, Named{"err", w2}); err != nil {
		return err
	}
	w2.Close()
	if _, err := d.spawn("hello", "hello", FileRef{Fd: 1, File: w1}, FileRef{Fd: 2, Name: "err"}); err != nil {
		return err
	}
	w1.Close()
	out, err := io.ReadAll(r1) // EOF: only the child held w1
	if err != nil {
		return err
	}
	errLine, err := bufio.NewReader(r2).ReadString('\n') // the keeper still holds w2
	if err != nil {
		return err
	}
	d.emit(event{Ev: "output", Text: string(out) + errLine})

	exit7, err := d.spawn("exit:7", "exit7")
	if err != nil {
		return err
	}
	d.emit(event{Ev: "spawned", Tag: "exit7", Child: exit7})

	errs := map[string]string{}
	try := func(name string, spec SpawnSpec) {
		if spec.Env == nil {
			spec.Env = childEnv("exit:0")
		}
		if _, err := d.c.Spawn(d.ctx, spec); err != nil {
			errs[name] = err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				errs[name+"/notexist"] = "yes"
			}
		}
	}
	try("missing", SpawnSpec{Argv: []string{"/nonexistent/eco-app"}})
	try("relative", SpawnSpec{Argv: []string{"sleep", "1"}})
	try("noargv", SpawnSpec{})
	try("unknown-name", SpawnSpec{Argv: []string{d.exe}, Files: []FileRef{{Fd: 3, Name: "nope"}}})
	try("bad-fd", SpawnSpec{Argv: []string{d.exe}, Files: []FileRef{{Fd: -1, Name: "err"}}})
	try("repeated-fd", SpawnSpec{Argv: []string{d.exe}, Files: []FileRef{{Fd: 1, Name: "err"}, {Fd: 1, Name: "err"}}})
	try("bad-dir", SpawnSpec{Argv: []string{d.exe}, Dir: "/nonexistent"})
	try("not-executable", SpawnSpec{Argv: []string{"/etc/hostname"}})
	try("huge-env", SpawnSpec{Argv: []string{d.exe}, Env: []string{"X=" + strings.Repeat("x", 230<<10)}})
	try("fine", SpawnSpec{Argv: []string{d.exe}})
	d.emit(event{Ev: "errors", Errs: errs})

	kids, err := d.c.Children(d.ctx)
	if err != nil {
		return err
	}
	d.emit(event{Ev: "children", Children: kids})
	d.watchExits(all)
	return nil
}

// playChatty reads a chatty child's output pipe into dir/lines with splice, so that every byte
// leaves the pipe only into the file: a SIGKILL cannot lose a line between the two.
func (d *daemon) playChatty() error {
	var r *os.File
	if d.gen == 1 {
		pr, pw, err := os.Pipe()
		if err != nil {
			return err
		}
		c, err := d.spawn("chatty", "chatty", FileRef{Fd: 1, File: pw})
		if err != nil {
			return err
		}
		pw.Close()
		if err := d.c.Put(d.ctx, Named{"out:chatty:0", pr}); err != nil {
			return err
		}
		r = pr
		d.emit(event{Ev: "spawned", Child: c})
	} else {
		files, err := d.c.Fetch(d.ctx)
		if err != nil {
			return err
		}
		for _, f := range files {
			if f.Name == "out:chatty:0" {
				r = f.File
			}
		}
		if r == nil {
			return errors.New("no out:chatty:0 in the store")
		}
		d.emit(event{Ev: "fetched"})
	}
	out, err := os.OpenFile(filepath.Join(d.dir, "lines"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := out.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	go d.watchExits(all)
	rfd, wfd := int(r.Fd()), int(out.Fd())
	for {
		n, err := unix.Splice(rfd, nil, wfd, nil, 1<<16, 0)
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
		case err != nil:
			return fmt.Errorf("splice: %w", err)
		case n == 0:
			d.emit(event{Ev: "eof"})
			select {}
		}
	}
}

func (d *daemon) playListener() error {
	files, err := d.c.Fetch(d.ctx)
	if err != nil {
		return err
	}
	var ln net.Listener
	for _, f := range files {
		if f.Name == "listen:web" {
			if ln, err = net.FileListener(f.File); err != nil {
				return err
			}
		}
		f.File.Close()
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			return err
		}
		if err := d.c.Put(d.ctx, Named{"listen:web", f}); err != nil {
			return err
		}
		f.Close()
	}
	d.emit(event{Ev: "serving", Text: ln.Addr().String()})
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer conn.Close()
			if _, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
				fmt.Fprintf(conn, "gen %d\n", d.gen)
			}
		}()
	}
}

func (d *daemon) playOrphans() error {
	r, w, _ := os.Pipe()
	if _, err := d.spawn("daemonize", "daemonize", FileRef{Fd: 1, File: w}); err != nil {
		return err
	}
	w.Close()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return err
	}
	gpid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "grandchild ")))
	if err != nil {
		return err
	}
	d.emit(event{Ev: "grandchild", Child: Child{Pid: gpid}})
	for i := range 10 {
		if _, err := d.spawn("orphan-maker", "maker"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	d.watchExits(all)
	return nil
}

func (d *daemon) playUpgrade() error {
	if slices.Contains(os.Args, "upgraded") {
		files, err := d.c.Fetch(d.ctx)
		if err != nil {
			return err
		}
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
			f.File.Close()
		}
		d.emit(event{Ev: "after", Names: names, Args: os.Args[1:]})
		select {}
	}
	_, w, _ := os.Pipe()
	if err := d.c.Put(d.ctx, Named{"keep", w}); err != nil {
		return err
	}
	errs := map[string]string{}
	for name, argv := range map[string][]string{"relative": {"eco"}, "missing": {"/nonexistent/eco"}, "empty": nil} {
		if err := d.c.Upgrade(d.ctx, argv); err != nil {
			errs[name] = err.Error()
		}
	}
	if err := d.c.Upgrade(d.ctx, []string{d.exe, "upgraded"}); err != nil {
		return err
	}
	d.emit(event{Ev: "upgrading", Errs: errs})
	os.Exit(0)
	return nil
}

func (d *daemon) playConcurrent() error {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	go d.watchExits(all)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				name := fmt.Sprintf("g%d:%d", g, i)
				r, w, _ := os.Pipe()
				err := d.c.Put(d.ctx, Named{name, w})
				w.Close()
				var files []Named
				if err == nil {
					files, err = d.c.Fetch(d.ctx)
				}
				found := false
				for _, f := range files {
					if f.Name == name {
						found = true
						if _, werr := f.File.WriteString("x"); werr != nil {
							err = werr
						}
					}
					f.File.Close()
				}
				if err == nil && !found {
					err = fmt.Errorf("%s not fetched", name)
				}
				if err == nil {
					err = d.c.Remove(d.ctx, name)
				}
				if err == nil {
					_, err = d.spawn("exit:0", name)
				}
				if err == nil {
					// Every copy of w is closed now: the byte, then EOF.
					var b []byte
					if b, err = io.ReadAll(r); err == nil && string(b) != "x" {
						err = fmt.Errorf("%s: read %q", name, b)
					}
				}
				r.Close()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := errors.Join(slices.Collect(chanSeq(errs))...); err != nil {
		return err
	}
	d.emit(event{Ev: "ok"})
	select {}
}

func chanSeq[T any](c <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range c {
			if !yield(v) {
				return
			}
		}
	}
}

func (d *daemon) playFootprint() error {
	// The test measures the idle keeper until it creates the file "go".
	for {
		if _, err := os.Stat(filepath.Join(d.dir, "go")); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var named []Named
	for i := range 500 {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		named = append(named, Named{fmt.Sprintf("out:%d:r", i), r}, Named{fmt.Sprintf("out:%d:w", i), w})
	}
	if err := d.c.Put(d.ctx, named...); err != nil {
		return err
	}
	for _, n := range named {
		n.File.Close()
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return err
	}
	for i := range 200 {
		if _, err := d.c.Spawn(d.ctx, SpawnSpec{Argv: []string{sleep, "3600"}, Tag: "s" + strconv.Itoa(i)}); err != nil {
			return err
		}
	}
	d.emit(event{Ev: "ready"})
	select {}
}
