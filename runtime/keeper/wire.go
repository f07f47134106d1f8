package keeper

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The wire format between the keeper and its daemon, over one end each of a socketpair(AF_UNIX,
// SOCK_SEQPACKET): one JSON message per datagram, descriptors beside it as SCM_RIGHTS.
//
// Daemon to keeper, each with an id the reply echoes:
//
//	{"v":1,"id":7,"op":"put","names":["a","b"]}        + 2 fds, names[i] is fds[i]
//	{"v":1,"id":8,"op":"remove","names":["a"]}
//	{"v":1,"id":9,"op":"fetch"}
//	{"v":1,"id":10,"op":"spawn","spawn":{...}}          + the fds its files pass
//	{"v":1,"id":11,"op":"children"}
//	{"v":1,"id":12,"op":"ack","seq":41}
//	{"v":1,"id":13,"op":"shutdown"}
//	{"v":1,"id":14,"op":"upgrade","argv":["/new/eco","daemon"]}
//
// Keeper to daemon:
//
//	{"v":1,"op":"hello","pid":100,"starts":3,"dropped":0}      first, once per daemon start
//	{"v":1,"op":"reply","id":9,"names":[...],"more":true}      + fds; a fetch's reply comes in parts
//	{"v":1,"op":"reply","id":10,"pid":321,"start":9876}
//	{"v":1,"op":"reply","id":8,"err":{"msg":"...","errno":2}}
//	{"v":1,"op":"exits","exits":[...],"dropped":0}             pushed as children end
//
// A message of another version, or one that does not decode, is answered with an error (id 0
// when it had none) and otherwise ignored; descriptors sent with a message that takes none are
// closed. An empty datagram reads as the end of the connection: the keeper closes its end.

// Version is the wire format's version; both ends must speak the same.
const Version = 1

// EnvFD names the environment variable that tells the daemon which descriptor reaches its keeper.
const EnvFD = "ECO_KEEPER_FD"

const (
	// maxFDs is how many descriptors one message carries (the kernel's SCM_MAX_FD is 253).
	maxFDs = 253
	// maxMsg bounds one datagram; a larger request fails with EMSGSIZE.
	maxMsg = 256 << 10
	// batchBytes bounds the names or exit records the keeper puts in one message.
	batchBytes = 32 << 10
	// exitBatch bounds the exit records in one pushed message.
	exitBatch = 256
)

const (
	opPut      = "put"
	opRemove   = "remove"
	opFetch    = "fetch"
	opSpawn    = "spawn"
	opChildren = "children"
	opAck      = "ack"
	opShutdown = "shutdown"
	opUpgrade  = "upgrade"
	opHello    = "hello"
	opReply    = "reply"
	opExits    = "exits"
)

type message struct {
	V        int        `json:"v"`
	ID       uint64     `json:"id,omitempty"`
	Op       string     `json:"op"`
	Names    []string   `json:"names,omitempty"`
	Spawn    *spawnReq  `json:"spawn,omitempty"`
	Argv     []string   `json:"argv,omitempty"`
	Seq      uint64     `json:"seq,omitempty"`
	Pid      int        `json:"pid,omitempty"`
	Start    uint64     `json:"start,omitempty"`
	Starts   int        `json:"starts,omitempty"`
	Dropped  uint64     `json:"dropped,omitempty"`
	More     bool       `json:"more,omitempty"`
	Exits    []Exit     `json:"exits,omitempty"`
	Children []Child    `json:"children,omitempty"`
	Err      *wireError `json:"err,omitempty"`
}

type spawnReq struct {
	Argv    []string  `json:"argv"`
	Env     []string  `json:"env,omitempty"`
	Dir     string    `json:"dir,omitempty"`
	Setpgid bool      `json:"setpgid,omitempty"`
	Tag     string    `json:"tag,omitempty"`
	Files   []fileRef `json:"files,omitempty"`
	// Cgroup is the Passed-th descriptor (from 1; 0: none), a cgroup v2 folder the child starts
	// in (clone into cgroup), so that nothing it forks is ever outside it.
	Cgroup int `json:"cgroup,omitempty"`
}

// fileRef gives child descriptor Fd either the stored descriptor Name or the Passed-th descriptor
// sent with the request (Passed counts from 1, so that 0 means none).
type fileRef struct {
	Fd     int    `json:"fd"`
	Name   string `json:"name,omitempty"`
	Passed int    `json:"passed,omitempty"`
}

// wireError carries an error and, when it has one, its errno, so that errors.Is(err,
// fs.ErrNotExist) still holds on the daemon's side.
type wireError struct {
	Msg   string `json:"msg"`
	Errno int    `json:"errno,omitempty"`
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Msg: err.Error()}
	if errno, ok := errors.AsType[syscall.Errno](err); ok {
		w.Errno = int(errno)
	}
	return w
}

// RemoteError is an error the keeper returned for a request.
type RemoteError struct {
	Op    string
	Msg   string
	Errno syscall.Errno // 0 when the error has none
}

func (e *RemoteError) Error() string { return "keeper " + e.Op + ": " + e.Msg }

// Unwrap returns the errno, if any, so that errors.Is(err, fs.ErrNotExist) works.
func (e *RemoteError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// Exit is how a child of the keeper ended.
type Exit struct {
	Seq       uint64    `json:"seq"`   // increases by one per record, for Ack
	Pid       int       `json:"pid"`   //
	StartTime uint64    `json:"start"` // /proc/<pid>/stat field 22, in clock ticks since boot
	Code      int       `json:"code"`  // the exit code, or 128+Signal
	Signal    int       `json:"sig,omitempty"`
	When      time.Time `json:"when"`
	// Tag is the spawn request's tag; Orphan says the keeper did not spawn the process (a
	// descendant re-parented to it, or a child of a dead daemon).
	Tag    string `json:"tag,omitempty"`
	Orphan bool   `json:"orphan,omitempty"`
}

// Child is a running process the keeper spawned.
type Child struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start"`
	Tag       string `json:"tag,omitempty"`
}

// packet is one datagram: a message and the descriptors sent with it.
type packet struct {
	msg message
	fds []int
}

// encode marshals m for sending.
func encode(m message) ([]byte, error) {
	m.V = Version
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Op, err)
	}
	if len(b) > maxMsg {
		return nil, fmt.Errorf("encode %s: %d bytes: %w", m.Op, len(b), unix.EMSGSIZE)
	}
	return b, nil
}

// send writes one datagram with fds.
func send(c *net.UnixConn, b []byte, fds []int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err := c.WriteMsgUnix(b, oob, nil)
	return err
}

// recv reads one datagram. The descriptors it returns are the caller's, and close-on-exec, even
// when err says the message is bad; a read error ends the connection.
func recv(c *net.UnixConn, buf, oob []byte) (p packet, err error, fatal error) {
	n, oobn, flags, _, rerr := c.ReadMsgUnix(buf, oob)
	if rerr != nil {
		return p, nil, rerr
	}
	if oobn > 0 {
		p.fds = parseRights(oob[:oobn])
	}
	if n == 0 && oobn == 0 {
		return p, nil, errEOF
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		return p, errors.New("message truncated"), nil
	}
	if err := json.Unmarshal(buf[:n], &p.msg); err != nil {
		return p, fmt.Errorf("decode message: %w", err), nil
	}
	if p.msg.V != Version {
		return p, fmt.Errorf("wire version %d, want %d", p.msg.V, Version), nil
	}
	return p, nil, nil
}

var errEOF = errors.New("connection closed")

func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// fileConn turns one end of a socketpair into a connection (the poller's, so a blocked read
// holds no thread) and closes f.
func fileConn(f *os.File) (*net.UnixConn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("%s is not a unix socket", f.Name())
	}
	return uc, nil
}

func oobSize() int { return unix.CmsgSpace(maxFDs * 4) }
