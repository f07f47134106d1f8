package preload

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	_ "embed"
)

// The environment variables the script reads. It does nothing at all when
// none of ECO_CLUSTER_PORT (with ECO_LISTEN_FD or ECO_BACKEND_PORT),
// ECO_GRACEFUL and ECO_CLUSTER_WORKER is set.
const (
	// EnvClusterPort is the app's public port, e.g. "3000": a listen() call
	// for it is redirected.
	EnvClusterPort = "ECO_CLUSTER_PORT"
	// EnvListenFD is set to "3" in kernel mode: the listening socket is
	// inherited as that fd, and listen() for the cluster port uses it.
	EnvListenFD = "ECO_LISTEN_FD"
	// EnvBackendPort is set in proxy mode: listen() for the cluster port
	// listens on 127.0.0.1 and this port instead.
	EnvBackendPort = "ECO_BACKEND_PORT"
	// EnvBackendSocket is set in proxy mode with EnvBackendPort: listen() for the
	// cluster port or for EnvBackendPort listens on this unix socket instead.
	EnvBackendSocket = "ECO_BACKEND_SOCKET"
	// EnvGraceful set to "1" makes SIGINT and SIGTERM drain the servers and
	// exit 0, unless the app handles that signal itself.
	EnvGraceful = "ECO_GRACEFUL"
	// EnvGracefulTimeout bounds the drain in milliseconds (default 10000);
	// past it the process dies by the signal, as it would without the script.
	EnvGracefulTimeout = "ECO_GRACEFUL_TIMEOUT"
	// EnvClusterWorker is the worker id (the instance's number + 1) of a cluster
	// instance: cluster.isPrimary is false in it and cluster.worker.id is this,
	// as in a PM2 cluster instance.
	EnvClusterWorker = "ECO_CLUSTER_WORKER"
	// EnvHandoff set to "1" (balance = "handoff", with EnvClusterPort) makes the server
	// that listens for the cluster port also take the connections eco passes over the IPC
	// channel, and report its open connections to eco.
	EnvHandoff = "ECO_HANDOFF"
)

//go:embed preload.js
var script []byte

// fileName is the script's name on disk. The hash keeps an upgraded eco from
// running an old script; .cjs keeps Node from reading it as an ES module when
// a package.json above the directory says "type": "module".
var fileName = func() string {
	sum := sha256.Sum256(script)
	return "eco-preload-" + hex.EncodeToString(sum[:6]) + ".cjs"
}()

// Write writes the script into dir, creating dir with mode 0700 if needed,
// under a name that includes a short hash of its content, and returns its
// absolute path. The file (mode 0644) is replaced atomically by a rename;
// when it already holds the script, Write changes nothing.
func Write(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("write preload: %w", err)
	}
	path := filepath.Join(dir, fileName)
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, script) {
		return path, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("write preload: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("write preload: %w", err)
	}
	if err := writeAtomic(path, script, 0o644); err != nil {
		return "", fmt.Errorf("write preload: %w", err)
	}
	return path, nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// NodeOptions returns the NODE_OPTIONS value that loads the script at path
// before the options in existing, which are kept as they are. The path is
// double-quoted as Node's NODE_OPTIONS parser reads it: inside quotes a
// backslash escapes the next character.
func NodeOptions(existing, path string) string {
	var b strings.Builder
	b.WriteString(`--require "`)
	for i := 0; i < len(path); i++ { // bytes, so a path that is not UTF-8 stays as it is
		if path[i] == '"' || path[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(path[i])
	}
	b.WriteByte('"')
	if strings.TrimSpace(existing) != "" {
		b.WriteByte(' ')
		b.WriteString(existing)
	}
	return b.String()
}
