package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Home returns eco's home folder: $ECO_HOME, or ~/.eco when it is unset or empty. The result is
// absolute and cleaned; a leading "~/" in ECO_HOME is expanded, since a systemd Environment= line
// does not do it.
func Home(lookupEnv func(string) (string, bool)) (string, error) {
	userHome := func() (string, error) {
		h, ok := lookupEnv("HOME")
		if !ok || h == "" {
			return "", errors.New("find eco's home: neither ECO_HOME nor HOME is set")
		}
		return h, nil
	}
	dir, ok := lookupEnv("ECO_HOME")
	switch {
	case !ok || dir == "":
		h, err := userHome()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(h, ".eco")
	case dir == "~" || strings.HasPrefix(dir, "~/"):
		h, err := userHome()
		if err != nil {
			return "", fmt.Errorf("expand ECO_HOME %q: %w", dir, err)
		}
		dir = filepath.Join(h, dir[1:])
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find eco's home %q: %w", dir, err)
	}
	return abs, nil
}

// SocketPath is the control socket under home.
func SocketPath(home string) string { return filepath.Join(home, "eco.sock") }

// LockPath is the daemon's lock file under home; it holds the running daemon's pid.
func LockPath(home string) string { return filepath.Join(home, "daemon.lock") }

// outPath is where a daemon started by EnsureDaemon writes its stdout and stderr.
func outPath(home string) string { return filepath.Join(home, "daemon.out") }

// trusted are the entries of home that eco reads, writes or obeys: each must, when present, be
// this user's own and not a symbolic link (a link could make a daemon running as root write or
// read where its target points). logs/ is not among them: a link to /var/log/eco is fine.
var trusted = []string{"state.json", "dump.json", "daemon.lock", "keeper.lock", "eco.sock", "daemon.out", "daemon.log", "run", "gitops.json", "git"}

// homeWhat names the home itself in a HomeError's problem.
const homeWhat = "eco's home"

// HomeError is a home that eco refuses to use.
type HomeError struct {
	Path    string
	Problem string // what is wrong, in words
	UID     int    // the owner's uid
	Owner   string // the owner's name, or the uid when it has none
	Mode    os.FileMode
	Fix     string // what to do
}

func (e *HomeError) Error() string {
	return fmt.Sprintf("refusing %s (owner %s, uid %d, mode %04o): %s; nothing was read from eco's home "+
		"and no daemon was started there. To fix it, %s", e.Path, e.Owner, e.UID, e.Mode.Perm(), e.Problem, e.Fix)
}

// SecureHome makes sure home can be trusted, as ssh treats ~/.ssh, and creates it (mode 0700,
// with any missing parent) when it does not exist. An existing home must be a folder owned by
// this process's user and not writable by group or others, in a folder of the user's or
// root's that others cannot write to (unless sticky, as /tmp); the entries named in trusted must,
// when present, be owned by the user and not be symbolic links. Otherwise the error is a
// *HomeError naming the path, its owner and mode, and what to do. Call it before anything in
// home is read or started.
func SecureHome(home string) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("create eco's home %s: %w", home, err)
	}
	self := os.Geteuid()
	fi, err := os.Stat(home)
	if err != nil {
		return fmt.Errorf("check eco's home %s: %w", home, err)
	}
	if err := checkOwned(home, fi, self, homeWhat); err != nil {
		return err
	}
	if err := checkParent(filepath.Dir(home), self); err != nil {
		return err
	}
	for _, name := range trusted {
		path := filepath.Join(home, name)
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", path, err)
		}
		if err := checkOwned(path, fi, self, name); err != nil {
			return err
		}
	}
	return nil
}

// checkOwned fails when the entry at path (described by fi, from Lstat for the entries of home)
// is a symbolic link, is not owned by uid self, or is a folder others can write to.
func checkOwned(path string, fi fs.FileInfo, self int, what string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("check %s: no owner information", path)
	}
	uid := int(st.Uid)
	e := &HomeError{Path: path, UID: uid, Mode: fi.Mode()}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		e.Problem = what + " is a symbolic link"
		e.Fix = fmt.Sprintf("remove the link (rm %s) and let eco create the file again", path)
	case uid != self:
		me := userName(self)
		e.Problem = fmt.Sprintf("%s belongs to another user, and eco runs as %s (uid %d)", what, me, self)
		e.Fix = fmt.Sprintf("use a home of your own (unset ECO_HOME for ~/.eco, or point it at a new folder), "+
			"or, if %s is yours, run: chown -R %s %s", path, me, path)
	case fi.IsDir() && fi.Mode().Perm()&0o022 != 0:
		e.Problem = what + " can be written by other users"
		e.Fix = fmt.Sprintf("run: chmod 700 %s", path)
	case what == homeWhat && !fi.IsDir():
		e.Problem = what + " is not a folder"
		e.Fix = "set ECO_HOME to a folder"
	default:
		return nil
	}
	e.Owner = userName(uid) // reads /etc/passwd: only once refused
	return e
}

// checkParent fails when another user could replace the home inside dir, its parent: dir must
// belong to this user or root, and not be writable by others unless sticky (as /tmp is).
func checkParent(dir string, self int) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("check %s: no owner information", dir)
	}
	uid := int(st.Uid)
	e := &HomeError{Path: dir, UID: uid, Mode: fi.Mode()}
	switch {
	case uid != self && uid != 0:
		e.Problem = "the folder that holds eco's home belongs to another user, who could replace the home"
		e.Fix = "set ECO_HOME to a folder inside one of your own (or unset it for ~/.eco)"
	case fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0:
		e.Problem = "the folder that holds eco's home can be written by other users, who could replace the home"
		e.Fix = fmt.Sprintf("run: chmod go-w %s (or chmod +t %s), or set ECO_HOME elsewhere", dir, dir)
	default:
		return nil
	}
	e.Owner = userName(uid)
	return e
}

// userName returns the name of user uid, or the uid in digits when it has none.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}
