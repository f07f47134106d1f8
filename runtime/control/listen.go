package control

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path a unix socket address can hold on Linux.
const maxSocketPath = len(unix.RawSockaddrUnix{}.Path)

// Listen checks home with SecureHome (which creates it if needed) and listens on SocketPath(home), mode 0600. A stale
// socket file that nobody accepts on is removed first; a live one is never taken over (the error
// wraps ErrDaemonRunning). Call it while holding Lock, so that no other daemon races for the path.
//
// Every accepted connection's peer is checked with SO_PEERCRED: connections from another user
// (root excepted) are closed at once and logged, and Accept waits for the next one.
func Listen(home string, log *slog.Logger) (net.Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := SecureHome(home); err != nil {
		return nil, err
	}
	sock := SocketPath(home)
	if err := checkSocketPath(sock); err != nil {
		return nil, err
	}
	if err := removeStale(sock); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	// Until this chmod the socket has the umask's mode; the peer check below covers that moment.
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	self := uint32(os.Getuid())
	return &peerListener{
		ln:    ln,
		log:   log,
		allow: func(uid uint32) bool { return peerAllowed(uid, self) },
	}, nil
}

// checkSocketPath fails when path is too long to be a unix socket address.
func checkSocketPath(path string) error {
	if len(path) > maxSocketPath {
		return fmt.Errorf("socket path %s is %d bytes, more than the %d a unix socket allows: "+
			"set ECO_HOME to a shorter folder", path, len(path), maxSocketPath)
	}
	return nil
}

// removeStale removes sock if it is a socket that nobody accepts on.
func removeStale(sock string) error {
	fi, err := os.Lstat(sock)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", sock, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket: move it away", sock)
	}
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	switch {
	case err == nil:
		conn.Close()
		return fmt.Errorf("another process accepts connections on %s: %w", sock, ErrDaemonRunning)
	case errors.Is(err, unix.ENOENT):
		return nil
	case !errors.Is(err, unix.ECONNREFUSED):
		// For example EAGAIN, a live listener with a full backlog: never steal it.
		return fmt.Errorf("check whether %s is live: %w", sock, err)
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// peerAllowed reports whether a peer running as peerUID may use the daemon of user selfUID: the
// same user, or root.
func peerAllowed(peerUID, selfUID uint32) bool {
	return peerUID == selfUID || peerUID == 0
}

// peerListener accepts only the connections that allow admits by their peer's uid.
type peerListener struct {
	ln    *net.UnixListener
	log   *slog.Logger
	allow func(uid uint32) bool
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			return nil, err
		}
		cred, err := peerCred(c)
		switch {
		case err != nil:
			l.log.Warn("control: closed a connection whose peer is unknown", "err", err)
		case !l.allow(cred.Uid):
			l.log.Warn("control: refused a connection from another user", "uid", cred.Uid, "pid", cred.Pid)
		default:
			return c, nil
		}
		c.Close()
	}
}

func (l *peerListener) Close() error   { return l.ln.Close() }
func (l *peerListener) Addr() net.Addr { return l.ln.Addr() }

// peerCred returns the credentials of c's peer, as they were when it connected.
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}
