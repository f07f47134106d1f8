package keeper

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeKeeper connects a Conn to a socket the test plays the keeper on.
func fakeKeeper(t *testing.T, hello message) (*Conn, *net.UnixConn, error) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	k, err := fileConn(os.NewFile(uintptr(fds[0]), "keeper"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	if hello.V == 0 {
		hello.V = Version
	}
	b, _ := json.Marshal(hello)
	if err := send(k, b, nil); err != nil {
		t.Fatal(err)
	}
	c, err := newConn(os.NewFile(uintptr(fds[1]), "daemon"))
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, k, err
}

// readReq reads the next request the Conn sent.
func readReq(t *testing.T, k *net.UnixConn) packet {
	t.Helper()
	k.SetReadDeadline(time.Now().Add(30 * time.Second))
	p, bad, fatal := recv(k, make([]byte, maxMsg), make([]byte, oobSize()))
	if err := errors.Join(bad, fatal); err != nil {
		t.Fatal(err)
	}
	return p
}

func reply(t *testing.T, k *net.UnixConn, m message, fds []int) {
	t.Helper()
	m.Op = opReply
	b, err := encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := send(k, b, fds); err != nil {
		t.Fatal(err)
	}
}

func TestConn_Hello(t *testing.T) {
	c, _, err := fakeKeeper(t, message{Op: opHello, Pid: 42, Starts: 3, Dropped: 5})
	if err != nil {
		t.Fatal(err)
	}
	if c.KeeperPid() != 42 || c.Starts() != 3 || c.Dropped() != 5 {
		t.Errorf("hello: pid %d starts %d dropped %d", c.KeeperPid(), c.Starts(), c.Dropped())
	}
	if _, _, err := fakeKeeper(t, message{V: 2, Op: opHello, Pid: 42}); err == nil {
		t.Error("a hello of another wire version was taken")
	}
	if _, _, err := fakeKeeper(t, message{Op: opExits}); err == nil {
		t.Error("a first message other than hello was taken")
	}
}

// A keeper that goes away fails the pending call and later ones, and closes Exits once the
// records it sent are delivered.
func TestConn_KeeperGone(t *testing.T) {
	c, k, err := fakeKeeper(t, message{Op: opHello, Pid: 1, Starts: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := encode(message{Op: opExits, Exits: []Exit{{Seq: 1, Pid: 10}, {Seq: 2, Pid: 11}}})
	send(k, b, nil)
	got := make(chan error, 1)
	go func() { _, err := c.Children(context.Background()); got <- err }()
	readReq(t, k)
	k.Close()
	select {
	case err := <-got:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("pending call = %v, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the pending call did not return")
	}
	var pids []int
	for e := range c.Exits() {
		pids = append(pids, e.Pid)
	}
	if len(pids) != 2 || pids[0] != 10 || pids[1] != 11 {
		t.Errorf("exits delivered %v, want [10 11]", pids)
	}
	if err := c.Ack(context.Background(), 2); !errors.Is(err, ErrClosed) {
		t.Errorf("call after the end = %v, want ErrClosed", err)
	}
}

// A caller that gives up leaves nothing behind: the late reply's descriptors are closed.
func TestConn_LateReplyClosesDescriptors(t *testing.T) {
	c, k, err := fakeKeeper(t, message{Op: opHello, Pid: 1, Starts: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { _, err := c.Fetch(ctx); got <- err }()
	req := readReq(t, k)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch after cancel = %v", err)
	}
	reply(t, k, message{ID: req.msg.ID, Names: []string{"w"}}, []int{int(w.Fd())})
	w.Close()
	// Once the Conn closed its copy of w, the pipe has no writer left.
	if err := readsEOF(r); err != nil {
		t.Errorf("the late reply's descriptor: %v", err)
	}
	// The connection still works.
	go func() { _, err := c.Children(context.Background()); got <- err }()
	req = readReq(t, k)
	reply(t, k, message{ID: req.msg.ID}, nil)
	if err := <-got; err != nil {
		t.Errorf("Children after a late reply: %v", err)
	}
}

func TestConn_RemoteError(t *testing.T) {
	c, k, err := fakeKeeper(t, message{Op: opHello, Pid: 1, Starts: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := c.Spawn(context.Background(), SpawnSpec{Argv: []string{"/nonexistent"}})
		got <- err
	}()
	req := readReq(t, k)
	if req.msg.Op != opSpawn || req.msg.Spawn.Argv[0] != "/nonexistent" {
		t.Fatalf("request %+v", req.msg)
	}
	reply(t, k, message{ID: req.msg.ID, Err: &wireError{Msg: "spawn /nonexistent: no such file", Errno: int(unix.ENOENT)}}, nil)
	err = <-got
	var re *RemoteError
	if !errors.As(err, &re) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Spawn = %v, want a RemoteError that is fs.ErrNotExist", err)
	}
	c.Close()
	if _, ok := <-c.Exits(); ok {
		t.Error("Exits is open after Close")
	}
}
