package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eco-pm/eco/runtime/keeper"
	"github.com/eco-pm/eco/runtime/proc"
)

// keeperCallTimeout bounds one request to the keeper.
const keeperCallTimeout = 10 * time.Second

// keeperLink is the daemon's side of the keeper (runtime/keeper) that started it: instances are
// spawned as the keeper's children, and the descriptors that must outlive the daemon are stored
// there under names the next daemon maps back:
//
//	out:<mark>, err:<mark>   the read ends of an instance's stdout and stderr pipes
//	ipc:<mark>               the daemon's end of its Node IPC channel
//	notify:<mark>            its sd_notify socket
//	listen:<app>:<port>      a kernel-mode cluster's listening socket
//
// where <mark> is the instance process's ECO_PROC_ID, also its spawn tag and in its run record.
// A nil *keeperLink is a daemon without a keeper: every method does nothing.
type keeperLink struct {
	c   *keeper.Conn
	log *slog.Logger

	mu sync.Mutex
	// fetched are the descriptors a previous daemon stored, until taken or dropped.
	fetched map[string]*os.File
	// acks tracks which exit records are handled, to acknowledge them in order.
	pending []uint64
	handled map[uint64]bool

	// closing is set when the daemon closes the connection itself (it stops, or hands over);
	// lost once the keeper has ended under a running daemon (keeperGone): the daemon then
	// starts processes as its own children and stores nothing.
	closing atomic.Bool
	lost    atomic.Bool
	lostAt  atomic.Int64 // unix nanoseconds
}

// usable reports whether there is a keeper to spawn processes and hold descriptors.
func (k *keeperLink) usable() bool { return k != nil && !k.lost.Load() }

// spawner is the keeper as a proc.Spawner, nil when it is not usable: the daemon starts the
// process itself.
func (k *keeperLink) spawner() proc.Spawner {
	if !k.usable() {
		return nil
	}
	return k
}

// keeperGone is called when the connection to the keeper ended without the daemon closing it.
// The keeper that had died (SIGKILLed, or killed by the OOM killer) re-parented this daemon
// and the instances: once this process's parent is no longer the keeper, the link is lost:
// exits it would have reported are not waited for (proc.LoseReports), new instances are this
// daemon's own children, and GET /v1/ping says what happened (keeperLost). A connection that
// ends while the keeper lives (an upgrade's hand-over) changes nothing.
func (k *keeperLink) keeperGone() {
	pid := k.c.KeeperPid()
	deadline := time.Now().Add(2 * time.Second)
	for os.Getppid() == pid {
		if k.closing.Load() || time.Now().After(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	if k.closing.Load() {
		return
	}
	k.lostAt.Store(time.Now().UnixNano())
	k.lost.Store(true)
	proc.LoseReports()
	k.log.Error("the eco keeper has ended: the apps run on, and this daemon now starts their processes itself; "+
		"if it dies, nothing restarts it and its instances lose their output pipes: `eco kill` then any eco command "+
		"restarts everything under a new keeper", "keeper", pid)
}

// lostNote says that the keeper ended, for GET /v1/ping; "" while it runs.
func (k *keeperLink) lostNote() string {
	if k == nil || !k.lost.Load() {
		return ""
	}
	at := time.Unix(0, k.lostAt.Load())
	return fmt.Sprintf("the eco keeper (pid %d) ended at %s: the apps run on, but a daemon that dies now is not restarted "+
		"and its instances lose their output; run `eco kill`, then any eco command, to restart every app under a new keeper",
		k.c.KeeperPid(), at.Format(time.RFC3339))
}

func newKeeperLink(c *keeper.Conn, log *slog.Logger) *keeperLink {
	return &keeperLink{c: c, log: log, fetched: map[string]*os.File{}, handled: map[uint64]bool{}}
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), keeperCallTimeout)
}

// Spawn has the keeper start a process; it makes the link a proc.Spawner.
func (k *keeperLink) Spawn(req proc.SpawnRequest) (int, uint64, error) {
	spec := keeper.SpawnSpec{
		Argv: append([]string{req.Path}, req.Argv[1:]...), Env: req.Env, Dir: req.Dir,
		Setpgid: true, Tag: markIn(req.Env), Cgroup: req.Cgroup,
	}
	for fd, f := range req.Files {
		if f != nil {
			spec.Files = append(spec.Files, keeper.FileRef{Fd: fd, File: f})
		}
	}
	ctx, cancel := callCtx()
	defer cancel()
	c, err := k.c.Spawn(ctx, spec)
	if err != nil {
		return 0, 0, err
	}
	return c.Pid, c.StartTime, nil
}

// markIn returns the process mark set in env ("" without one).
func markIn(env []string) string {
	for _, kv := range slices.Backward(env) {
		if v, ok := strings.CutPrefix(kv, proc.MarkVar+"="); ok {
			return v
		}
	}
	return ""
}

// put stores files under their names; a failure is logged: the instance runs, only it would
// not survive the daemon.
func (k *keeperLink) put(files ...keeper.Named) {
	if !k.usable() || len(files) == 0 {
		return
	}
	ctx, cancel := callCtx()
	defer cancel()
	if err := k.c.Put(ctx, files...); err != nil {
		k.log.Warn("cannot hand descriptors to the keeper; they will not outlive the daemon", "err", err)
	}
}

// remove forgets names in the keeper, and any fetched copy not taken.
func (k *keeperLink) remove(names ...string) {
	if k == nil || len(names) == 0 {
		return
	}
	k.mu.Lock()
	for _, n := range names {
		if f := k.fetched[n]; f != nil {
			f.Close()
			delete(k.fetched, n)
		}
	}
	k.mu.Unlock()
	if k.lost.Load() {
		return
	}
	ctx, cancel := callCtx()
	defer cancel()
	if err := k.c.Remove(ctx, names...); err != nil {
		k.log.Debug("cannot remove descriptors from the keeper", "names", names, "err", err)
	}
}

// fetch loads what a previous daemon stored.
func (k *keeperLink) fetch() error {
	ctx, cancel := callCtx()
	defer cancel()
	files, err := k.c.Fetch(ctx)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, n := range files {
		k.fetched[n.Name] = n.File
	}
	return nil
}

// take returns the fetched descriptor name (the caller owns it), or nil.
func (k *keeperLink) take(name string) *os.File {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	f := k.fetched[name]
	delete(k.fetched, name)
	return f
}

// dropUnclaimed closes the fetched descriptors that keep does not want and removes them from
// the keeper.
func (k *keeperLink) dropUnclaimed(keep func(name string) bool) {
	if k == nil {
		return
	}
	k.mu.Lock()
	var names []string
	for n, f := range k.fetched {
		if keep(n) {
			continue
		}
		f.Close()
		delete(k.fetched, n)
		names = append(names, n)
	}
	k.mu.Unlock()
	if len(names) > 0 {
		k.log.Info("dropping descriptors no instance claims", "names", names)
		k.remove(names...)
	}
}

// closeFetched closes every fetched descriptor still held (the keeper keeps its own).
func (k *keeperLink) closeFetched() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for n, f := range k.fetched {
		f.Close()
		delete(k.fetched, n)
	}
}

// children lists the processes the keeper spawned that run.
func (k *keeperLink) children() ([]keeper.Child, error) {
	ctx, cancel := callCtx()
	defer cancel()
	return k.c.Children(ctx)
}

// runExits hands each exit the keeper reports to the process waiting for it (proc.ReportExit)
// and acknowledges the records once handled, in order. It returns when the connection ends.
func (k *keeperLink) runExits() {
	for e := range k.c.Exits() {
		k.mu.Lock()
		k.pending = append(k.pending, e.Seq)
		k.mu.Unlock()
		if e.Orphan || e.Tag == "" {
			k.handledExit(e.Seq) // not an instance: a descendant that escaped, now reaped
			continue
		}
		seq := e.Seq
		proc.ReportExit(e.Pid, e.StartTime, proc.StatusOf(e.Code, e.Signal), func() { k.handledExit(seq) })
	}
}

// handledExit marks seq handled and acknowledges every record up to the first unhandled one.
func (k *keeperLink) handledExit(seq uint64) {
	k.mu.Lock()
	k.handled[seq] = true
	var upTo uint64
	for len(k.pending) > 0 && k.handled[k.pending[0]] {
		upTo = k.pending[0]
		delete(k.handled, upTo)
		k.pending = k.pending[1:]
	}
	k.mu.Unlock()
	if upTo == 0 {
		return
	}
	ctx, cancel := callCtx()
	defer cancel()
	if err := k.c.Ack(ctx, upTo); err != nil {
		k.log.Debug("cannot acknowledge exits to the keeper", "seq", upTo, "err", err)
	}
}

// instanceNames are the keeper's names of an instance process's descriptors.
func instanceNames(mark string) (out, errName, ipc, notify string) {
	return "out:" + mark, "err:" + mark, "ipc:" + mark, "notify:" + mark
}

// listenName is the keeper's name of a kernel-mode cluster's listening socket.
func listenName(app string, port int) string {
	return "listen:" + app + ":" + strconv.Itoa(port)
}
