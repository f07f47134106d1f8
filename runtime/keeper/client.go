package keeper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoKeeper is Connect's answer in a daemon that no keeper started: it runs on its own.
var ErrNoKeeper = errors.New("keeper: not started by a keeper (" + EnvFD + " unset)")

// ErrClosed is returned by calls on a connection that was closed or that the keeper ended.
var ErrClosed = errors.New("keeper: connection closed")

// Named is a descriptor and the name it is stored under.
type Named struct {
	Name string
	File *os.File
}

// SpawnSpec is a process for the keeper to start as its child.
type SpawnSpec struct {
	Argv []string // Argv[0] is an absolute path: the keeper does no PATH lookup
	Env  []string // the complete environment; nil is an empty one
	Dir  string
	// Setpgid puts the child in a process group of its own.
	Setpgid bool
	// Tag is the daemon's name for the child (e.g. "web:0"); Children and Exit report it.
	Tag string
	// Files give the child its descriptors; 0, 1 and 2 are /dev/null unless given, others closed.
	Files []FileRef
	// Cgroup, when set, is a cgroup v2 folder (opened with O_PATH|O_DIRECTORY) that the child
	// is started in, so that what it forks at once is in it too; the caller keeps and closes it.
	Cgroup *os.File
}

// FileRef gives the child's descriptor Fd either the stored descriptor Name or File, which is
// sent along with the request (the caller keeps and closes its File).
type FileRef struct {
	Fd   int
	Name string
	File *os.File
}

// Conn is the daemon's connection to its keeper. It is safe for concurrent use; one reader
// goroutine and one that delivers exits run until Close, which waits for them.
type Conn struct {
	c       *net.UnixConn
	pid     int
	starts  int
	dropped atomic.Uint64

	mu    sync.Mutex
	next  uint64
	calls map[uint64]*call
	err   error // why the reader ended

	exitMu   sync.Mutex
	exitCond *sync.Cond
	exitQ    []Exit
	exitEnd  bool // the reader ended: deliver what is queued, then close exits
	exits    chan Exit

	quit      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

type call struct {
	parts []packet
	done  chan struct{}
}

// Connect connects to the keeper through the descriptor EnvFD names, and removes EnvFD from
// the environment so that the daemon's own children do not see it. Without EnvFD it returns
// ErrNoKeeper.
func Connect() (*Conn, error) {
	v, ok := os.LookupEnv(EnvFD)
	if !ok {
		return nil, ErrNoKeeper
	}
	os.Unsetenv(EnvFD)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("keeper: %s=%q is not a descriptor", EnvFD, v)
	}
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_SEQPACKET {
		return nil, fmt.Errorf("keeper: %s=%d is not a seqpacket socket (%v)", EnvFD, fd, err)
	}
	unix.CloseOnExec(fd)
	return newConn(os.NewFile(uintptr(fd), "keeper"))
}

// newConn takes f, reads the keeper's hello and starts the connection's goroutines.
func newConn(f *os.File) (*Conn, error) {
	uc, err := fileConn(f)
	if err != nil {
		return nil, fmt.Errorf("keeper: %w", err)
	}
	uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, bad, fatal := recv(uc, make([]byte, maxMsg), make([]byte, oobSize()))
	closeFDs(p.fds)
	if err := errors.Join(bad, fatal); err != nil || p.msg.Op != opHello {
		uc.Close()
		return nil, fmt.Errorf("keeper: read hello: %v (op %q)", err, p.msg.Op)
	}
	uc.SetReadDeadline(time.Time{})
	c := &Conn{c: uc, pid: p.msg.Pid, starts: p.msg.Starts, calls: map[uint64]*call{},
		exits: make(chan Exit), quit: make(chan struct{})}
	c.dropped.Store(p.msg.Dropped)
	c.exitCond = sync.NewCond(&c.exitMu)
	c.wg.Add(2)
	go c.read()
	go c.deliver()
	return c, nil
}

// KeeperPid is the keeper's pid.
func (c *Conn) KeeperPid() int { return c.pid }

// Starts counts the daemons the keeper started, this one included: 1 for the first.
func (c *Conn) Starts() int { return c.starts }

// Dropped counts the exit records the keeper dropped unacknowledged because it had too many.
func (c *Conn) Dropped() uint64 { return c.dropped.Load() }

// Exits delivers, in Seq order, the exit of every child of the keeper not yet acknowledged:
// first those of children that ended while no daemon listened. It is closed when the connection
// ends. Records are redelivered to the next daemon until acknowledged with Ack.
func (c *Conn) Exits() <-chan Exit { return c.exits }

// Close ends the connection and waits for its goroutines. The keeper keeps what it holds.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.quit)
		c.c.Close()
	})
	c.wg.Wait()
	return nil
}

func (c *Conn) read() {
	defer c.wg.Done()
	buf, oob := make([]byte, maxMsg), make([]byte, oobSize())
	for {
		p, bad, fatal := recv(c.c, buf, oob)
		if fatal != nil {
			c.end(fatal)
			return
		}
		if bad != nil {
			closeFDs(p.fds)
			continue
		}
		switch p.msg.Op {
		case opReply:
			c.mu.Lock()
			cl := c.calls[p.msg.ID]
			if cl == nil {
				c.mu.Unlock()
				closeFDs(p.fds) // its caller gave up
				continue
			}
			cl.parts = append(cl.parts, p)
			if !p.msg.More || p.msg.Err != nil {
				delete(c.calls, p.msg.ID)
				close(cl.done)
			}
			c.mu.Unlock()
		case opExits:
			c.dropped.Store(p.msg.Dropped)
			closeFDs(p.fds)
			c.exitMu.Lock()
			c.exitQ = append(c.exitQ, p.msg.Exits...)
			c.exitCond.Signal()
			c.exitMu.Unlock()
		default:
			closeFDs(p.fds)
		}
	}
}

// end fails every pending call and lets deliver close the exits channel.
func (c *Conn) end(err error) {
	select {
	case <-c.quit:
		err = ErrClosed
	default:
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	c.mu.Lock()
	c.err = err
	for id, cl := range c.calls {
		delete(c.calls, id)
		close(cl.done)
	}
	c.mu.Unlock()
	c.exitMu.Lock()
	c.exitEnd = true
	c.exitCond.Signal()
	c.exitMu.Unlock()
}

func (c *Conn) deliver() {
	defer c.wg.Done()
	defer close(c.exits)
	for {
		c.exitMu.Lock()
		for len(c.exitQ) == 0 && !c.exitEnd {
			c.exitCond.Wait()
		}
		if len(c.exitQ) == 0 {
			c.exitMu.Unlock()
			return
		}
		e := c.exitQ[0]
		c.exitQ = c.exitQ[1:]
		c.exitMu.Unlock()
		select {
		case c.exits <- e:
		case <-c.quit:
			return
		}
	}
}

// roundTrip sends m with fds and returns the reply's parts; the caller owns their descriptors.
func (c *Conn) roundTrip(ctx context.Context, m message, fds []int) ([]packet, error) {
	cl := &call{done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.next++
	m.ID = c.next
	c.calls[m.ID] = cl
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.calls, m.ID)
		c.mu.Unlock()
	}
	b, err := encode(m)
	if err == nil {
		err = send(c.c, b, fds)
	}
	if err != nil {
		forget()
		return nil, fmt.Errorf("keeper %s: %w", m.Op, err)
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		forget()
		// The reply may have completed meanwhile; its descriptors are closed here.
		select {
		case <-cl.done:
			closeParts(cl.parts)
		default:
		}
		return nil, fmt.Errorf("keeper %s: %w", m.Op, ctx.Err())
	}
	if len(cl.parts) == 0 || cl.parts[len(cl.parts)-1].msg.More {
		closeParts(cl.parts)
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("keeper %s: %w", m.Op, err)
	}
	if w := cl.parts[len(cl.parts)-1].msg.Err; w != nil {
		closeParts(cl.parts)
		return nil, &RemoteError{Op: m.Op, Msg: w.Msg, Errno: unix.Errno(w.Errno)}
	}
	return cl.parts, nil
}

func closeParts(parts []packet) {
	for _, p := range parts {
		closeFDs(p.fds)
	}
}

// dupFiles duplicates the descriptors of files without changing their blocking mode (as Fd
// would); the caller closes the duplicates.
func dupFiles(files []*os.File) ([]int, error) {
	fds := make([]int, 0, len(files))
	for _, f := range files {
		sc, err := f.SyscallConn()
		if err != nil {
			closeFDs(fds)
			return nil, err
		}
		var dup int
		var derr error
		if err := sc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
			derr = err
		}
		if derr != nil {
			closeFDs(fds)
			return nil, fmt.Errorf("dup %s: %w", f.Name(), derr)
		}
		fds = append(fds, dup)
	}
	return fds, nil
}

// Put stores the descriptors under their names; a name stored again replaces (and closes) the
// keeper's old descriptor. The caller keeps its files.
func (c *Conn) Put(ctx context.Context, files ...Named) error {
	for len(files) > 0 {
		batch := files[:min(len(files), maxFDs)]
		files = files[len(batch):]
		names, fs := make([]string, len(batch)), make([]*os.File, len(batch))
		for i, n := range batch {
			names[i], fs[i] = n.Name, n.File
		}
		fds, err := dupFiles(fs)
		if err != nil {
			return fmt.Errorf("keeper put: %w", err)
		}
		_, err = c.roundTrip(ctx, message{Op: opPut, Names: names}, fds)
		closeFDs(fds)
		if err != nil {
			return err
		}
	}
	return nil
}

// Remove closes and forgets the descriptors stored under names; unknown names are ignored.
func (c *Conn) Remove(ctx context.Context, names ...string) error {
	for len(names) > 0 {
		batch := names[:min(len(names), 128)]
		names = names[len(batch):]
		if _, err := c.roundTrip(ctx, message{Op: opRemove, Names: batch}, nil); err != nil {
			return err
		}
	}
	return nil
}

// Fetch returns every stored descriptor, duplicated, with its name, sorted by name. The caller
// closes the files.
func (c *Conn) Fetch(ctx context.Context) ([]Named, error) {
	parts, err := c.roundTrip(ctx, message{Op: opFetch}, nil)
	if err != nil {
		return nil, err
	}
	var out []Named
	var bad error
	for _, p := range parts {
		if len(p.fds) != len(p.msg.Names) {
			closeFDs(p.fds)
			bad = fmt.Errorf("keeper fetch: %d names for %d descriptors", len(p.msg.Names), len(p.fds))
			continue
		}
		for i, n := range p.msg.Names {
			out = append(out, Named{Name: n, File: os.NewFile(uintptr(p.fds[i]), n)})
		}
	}
	if bad != nil {
		for _, n := range out {
			n.File.Close()
		}
		return nil, bad
	}
	return out, nil
}

// Spawn has the keeper start a process as its child and returns its pid and start time. Its exit
// arrives on Exits (of this daemon or a later one).
func (c *Conn) Spawn(ctx context.Context, spec SpawnSpec) (Child, error) {
	req := &spawnReq{Argv: spec.Argv, Env: spec.Env, Dir: spec.Dir, Setpgid: spec.Setpgid, Tag: spec.Tag}
	var pass []*os.File
	for _, f := range spec.Files {
		ref := fileRef{Fd: f.Fd, Name: f.Name}
		if f.File != nil {
			pass = append(pass, f.File)
			ref.Passed = len(pass)
		}
		req.Files = append(req.Files, ref)
	}
	if spec.Cgroup != nil {
		pass = append(pass, spec.Cgroup)
		req.Cgroup = len(pass)
	}
	if len(pass) > maxFDs {
		return Child{}, fmt.Errorf("keeper spawn: %d descriptors passed, at most %d", len(pass), maxFDs)
	}
	fds, err := dupFiles(pass)
	if err != nil {
		return Child{}, fmt.Errorf("keeper spawn: %w", err)
	}
	parts, err := c.roundTrip(ctx, message{Op: opSpawn, Spawn: req}, fds)
	closeFDs(fds)
	if err != nil {
		return Child{}, err
	}
	closeParts(parts)
	m := parts[len(parts)-1].msg
	return Child{Pid: m.Pid, StartTime: m.Start, Tag: spec.Tag}, nil
}

// Children lists the running processes the keeper spawned, by pid: what a new daemon adopts.
func (c *Conn) Children(ctx context.Context) ([]Child, error) {
	parts, err := c.roundTrip(ctx, message{Op: opChildren}, nil)
	if err != nil {
		return nil, err
	}
	closeParts(parts)
	return parts[len(parts)-1].msg.Children, nil
}

// Ack tells the keeper that the exit records up to seq are handled: no daemon gets them again.
func (c *Conn) Ack(ctx context.Context, seq uint64) error {
	_, err := c.roundTrip(ctx, message{Op: opAck, Seq: seq}, nil)
	return err
}

// Shutdown tells the keeper that the daemon stops for good: once it exits, the keeper closes the
// stored descriptors and ends instead of restarting it.
func (c *Conn) Shutdown(ctx context.Context) error {
	_, err := c.roundTrip(ctx, message{Op: opShutdown}, nil)
	return err
}

// Upgrade makes argv the daemon's command (argv[0] absolute and executable): when this daemon
// exits next, the keeper starts argv at once, with the same descriptors and children. The
// daemon exits on its own once it is ready to hand over.
func (c *Conn) Upgrade(ctx context.Context, argv []string) error {
	_, err := c.roundTrip(ctx, message{Op: opUpgrade, Argv: argv}, nil)
	return err
}
