package runtime

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// With a socket per instance index, the index's queue has no other taker: an instance that is
// put online before its process accepts on the socket (min_uptime passed, but the app is still
// loading) would leave the connections on that socket waiting once the instance it replaced
// has stopped. So an instance with an index socket counts as accepting only once its process
// (or a descendant) waits for connections on that socket: the socket is in one of its epoll
// sets (Node, Go, Python's asyncio...) or a thread of it is blocked in accept on it. An app
// that waits some other way (select, poll, io_uring) is taken as accepting after half of
// listen_timeout, and its reason says so.

// socketInode is the inode of f (a socket), or 0.
func socketInode(f *os.File) uint64 {
	var st unix.Stat_t
	if err := withFd(f, func(fd int) error { return unix.Fstat(fd, &st) }); err != nil {
		return 0
	}
	return st.Ino
}

// watchAccepting reports on the returned channel once pid or a descendant waits for
// connections on the socket inode, checking every 20ms, or after fallback has passed with a
// reason saying that it was not seen; wg owns the goroutine, which ends with ctx.
func watchAccepting(ctx context.Context, wg *sync.WaitGroup, pid int, inode uint64, port int, fallback time.Duration) <-chan string {
	up := make(chan string, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(fallback)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if inode == 0 || acceptsOn(pid, inode) {
				up <- fmt.Sprintf("port %d, its own socket", port)
				return
			}
			if time.Now().After(deadline) {
				up <- fmt.Sprintf("port %d, its own socket; not seen waiting on it, assumed after %s", port, fallback)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return up
}

// acceptsOn reports whether pid or one of its descendants waits for connections on the socket
// inode: in an epoll set, or in accept.
func acceptsOn(pid int, inode uint64) bool {
	seen := map[int]bool{}
	todo := []int{pid}
	for len(todo) > 0 && len(seen) < 4096 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		if processAccepts(p, inode) {
			return true
		}
		todo = append(todo, childrenOf(p)...)
	}
	return false
}

// processAccepts is acceptsOn for one process.
func processAccepts(pid int, inode uint64) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	target := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	ino := "ino:" + strconv.FormatUint(inode, 16)
	holds := map[string]bool{} // the process's descriptors of the socket
	var epolls []string
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/" + fd.Name())
		switch {
		case err != nil:
		case link == target:
			holds[fd.Name()] = true
		case link == "anon_inode:[eventpoll]":
			epolls = append(epolls, fd.Name())
		}
	}
	if len(holds) == 0 {
		return false
	}
	for _, fd := range epolls {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd))
		if err != nil {
			continue
		}
		// "tfd:        3 events:       19 data: ... pos:0 ino:5e3f sdev:8"
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "tfd:") && slicesHasField(line, ino) {
				return true
			}
		}
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false
	}
	for _, t := range tasks {
		// "288 0x3 0x7ffd... ...": the syscall a blocked thread is in, then its arguments.
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, t.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 2 || (f[0] != strconv.Itoa(unix.SYS_ACCEPT4) && f[0] != strconv.Itoa(unix.SYS_ACCEPT)) {
			continue
		}
		if fd, err := strconv.ParseInt(strings.TrimPrefix(f[1], "0x"), 16, 64); err == nil && holds[strconv.FormatInt(fd, 10)] {
			return true
		}
	}
	return false
}

func slicesHasField(line, field string) bool {
	for _, f := range strings.Fields(line) {
		if f == field {
			return true
		}
	}
	return false
}

// childrenOf lists pid's children.
func childrenOf(pid int) []int {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// watchIndexSocket makes r accepting only once pid waits on the instance's index socket.
func (m *machine) watchIndexSocket(r *procRun, pid int) {
	in := m.in
	r.accepting = false
	probeCtx, stop := context.WithCancel(m.ctx)
	r.stopProbe = stop
	r.portUp = watchAccepting(probeCtx, &r.probes, pid, socketInode(in.listener), in.port, m.spec.ListenTimeout.D()/2)
}
