package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// ShimArg is the hidden first argument that makes eco run as the socket-activation shim:
// eco __shim -- PROGRAM ARGS...
const ShimArg = "__shim"

// RunShim sets LISTEN_PID to its own pid and replaces itself with the program: systemd's
// socket activation protocol wants LISTEN_PID to equal the pid of the process that reads
// LISTEN_FDS, which a parent cannot set after fork. args are what follows ShimArg. It only
// returns on error.
func RunShim(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New("shim: no program to run")
	}
	path := args[0]
	if lp, err := exec.LookPath(path); err == nil {
		path = lp
	}
	env := os.Environ()
	out := env[:0]
	for _, kv := range env {
		if len(kv) >= 11 && kv[:11] == "LISTEN_PID=" {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	if err := syscall.Exec(path, args, out); err != nil {
		return fmt.Errorf("shim: exec %s: %w", args[0], err)
	}
	return nil
}
