package startup

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Options say what unit to write.
type Options struct {
	// User writes a user unit (systemctl --user, ~/.config/systemd/user) instead of a system
	// one (/etc/systemd/system, with User=RunAs).
	User bool
	// Exe is eco's absolute path; Home is the absolute ECO_HOME the daemon serves.
	Exe, Home string
	// Path is the PATH the daemon and its apps get (systemd's default lacks ~/.nvm, /opt...).
	Path string
	// RunAs is the user a system unit runs the daemon as (required without User).
	RunAs string
	// Version is eco's version, written in the header.
	Version string
}

// Marker starts every unit eco writes; eco unstartup removes only a file that has it.
const Marker = "# Written by eco startup"

// Name is the unit's name: eco.service for a user unit, eco-<user>.service for a system one
// (several users may each have one, as with pm2-<user>.service).
func (o Options) Name() string {
	if o.User {
		return "eco.service"
	}
	return "eco-" + o.RunAs + ".service"
}

// check refuses what cannot be written into a unit safely.
func (o Options) check() error {
	if !filepath.IsAbs(o.Exe) {
		return fmt.Errorf("eco's path %q is not absolute", o.Exe)
	}
	if !filepath.IsAbs(o.Home) {
		return fmt.Errorf("ECO_HOME %q is not absolute", o.Home)
	}
	if !o.User && (o.RunAs == "" || strings.ContainsAny(o.RunAs, "/ \t\n\\\"'%$")) {
		return fmt.Errorf("a system unit needs the user to run as; %q is not a user name", o.RunAs)
	}
	for what, v := range map[string]string{"eco's path": o.Exe, "ECO_HOME": o.Home, "PATH": o.Path} {
		if strings.ContainsAny(v, "\n\r\x00") {
			return fmt.Errorf("%s %q holds a line break or NUL, which a unit file cannot hold", what, v)
		}
	}
	return nil
}

// Unit returns the unit file's text.
//
// Why each setting (README "Start at boot: eco startup" says the same to users):
//   - ExecStart runs `eco daemon --foreground`: the keeper, which runs the daemon as its child
//     and restarts it at once if it dies, and holds the cluster sockets and output pipes that a
//     new daemon adopts. The keeper plays the role the design gives systemd's fd store: the fd
//     store keeps descriptors, but systemd does not keep a restarted service's children as its
//     children, which adoption needs.
//   - Restart=on-failure restarts the keeper itself if it is killed or crashes; `eco kill`
//     (which ends the keeper cleanly, exit 0) then really stops everything until the next boot
//     or `systemctl start`, where Restart=always would start it all again within a second.
//   - KillMode=mixed: `systemctl stop` sends SIGTERM to the keeper only; the keeper has the
//     daemon stop every app with its own stop_signal and kill_timeout, in order; whatever is
//     left when the keeper exits (nothing, normally) gets SIGKILL. KillMode=process would
//     leave such processes, and the instances of a keeper that was SIGKILLed, running outside
//     any eco while the restarted one starts the apps again: two copies, fighting for ports.
//     control-group would SIGTERM every instance at once, with no regard for its settings.
//   - TimeoutStopSec=150 covers the keeper's 2-minute wait for the daemon.
//   - Delegate=yes lets the daemon give each instance a cgroup of its own (cgroup v2), so a
//     stop ends everything an instance started.
//   - LimitNOFILE: the keeper and the daemon hold a few descriptors per instance.
func Unit(o Options) (string, error) {
	if err := o.check(); err != nil {
		return "", err
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("%s %s; remove it with: eco unstartup%s", Marker, o.Version, map[bool]string{true: " --user"}[o.User])
	line("[Unit]")
	line("Description=%s", specifiers("eco process manager (ECO_HOME="+o.Home+")"))
	line("Documentation=https://github.com/eco-pm/eco#start-at-boot-eco-startup")
	if !o.User {
		line("After=network.target")
	}
	line("")
	line("[Service]")
	line("Type=exec")
	if !o.User {
		line("User=%s", o.RunAs)
	}
	line("Environment=%s", envValue("ECO_HOME="+o.Home))
	if o.Path != "" {
		line("Environment=%s", envValue("PATH="+o.Path))
	}
	line("ExecStart=%s daemon --foreground", execPath(o.Exe))
	line("Restart=on-failure")
	line("KillMode=mixed")
	line("TimeoutStopSec=150")
	line("Delegate=yes")
	line("LimitNOFILE=65536")
	line("")
	line("[Install]")
	if o.User {
		line("WantedBy=default.target")
	} else {
		line("WantedBy=multi-user.target")
	}
	return b.String(), nil
}

// specifiers escapes systemd's % specifiers.
func specifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// quote is a C-style double-quoted string, as systemd reads one.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// envValue is one Environment= assignment: quoted when needed, specifiers escaped
// (Environment= expands no $).
func envValue(kv string) string {
	if strings.ContainsAny(kv, " \t\"'\\") {
		kv = quote(kv)
	}
	return specifiers(kv)
}

// execPath is the command of ExecStart=: specifiers escaped, quoted when needed. systemd
// expands $VARIABLES in the arguments only, never in the command's path, so a $ stays.
func execPath(s string) string {
	if strings.ContainsAny(s, " \t\"'\\;") {
		s = quote(s)
	}
	return specifiers(s)
}
