package preload

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// loadMsg is the preload's NODE_ECO_LOAD report.
type loadMsg struct {
	Cmd  string `json:"cmd"`
	E    uint32 `json:"e"`
	Seq  uint64 `json:"seq"`
	N    int64  `json:"n"`
	L    int    `json:"l"`
	Back int    `json:"back"`
}

// TestHandoff_Preload speaks eco's side of balance = "handoff" to a Node app over its IPC
// channel: the preload answers NODE_ECO_ASK, makes a socket passed with NODE_HANDLE a
// connection of the app's server (the one listen(<cluster port>) made), confirms it at once
// and reports its close; once the server has closed, a socket goes back.
func TestHandoff_Preload(t *testing.T) {
	script := writeScript(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours := os.NewFile(uintptr(fds[0]), "ipc")
	theirs := os.NewFile(uintptr(fds[1]), "ipc-child")
	defer ours.Close()
	port := freePort(t)
	sock := filepath.Join(t.TempDir(), "b.sock")
	src := fmt.Sprintf(`const s = require('http').createServer((q, r) => r.end(String(process.pid)));
s.listen(%d, () => console.log('listening'));
process.on('message', (m) => { if (m === 'close') s.close(() => console.log('closed')); });
`, port)
	p := startNode(t, script, src, []string{
		"NODE_CHANNEL_FD=3", "NODE_CHANNEL_SERIALIZATION_MODE=json",
		"ECO_CLUSTER_PORT=" + strconv.Itoa(port), "ECO_BACKEND_PORT=" + strconv.Itoa(freePort(t)),
		"ECO_BACKEND_SOCKET=" + sock, "ECO_HANDOFF=1",
	}, theirs)
	theirs.Close()
	p.waitLine("listening")

	lines := make(chan loadMsg, 16)
	go func() {
		sc := bufio.NewScanner(ours)
		for sc.Scan() {
			var m loadMsg
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Cmd == "NODE_ECO_LOAD" {
				lines <- m
			}
		}
		close(lines)
	}()
	next := func(what string) loadMsg {
		t.Helper()
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatalf("%s: the channel closed; stderr: %s", what, p.stderr.String())
			}
			return m
		case <-time.After(wait):
			t.Fatalf("no report: %s; stderr: %s", what, p.stderr.String())
		}
		return loadMsg{}
	}
	send := func(line string, fd int) {
		t.Helper()
		var oob []byte
		if fd >= 0 {
			oob = unix.UnixRights(fd)
		}
		if err := unix.Sendmsg(fds[0], []byte(line+"\n"), oob, nil, 0); err != nil {
			t.Fatal(err)
		}
	}

	// The server said that it listens before the app's listen callback ran.
	if m := next("the report of the listen"); m.L != 1 || m.N != 0 {
		t.Errorf("report of the listen %+v, want the server listening (l 1) with no connection", m)
	}
	send(`{"cmd":"NODE_ECO_ASK"}`, -1)
	if m := next("the answer to ASK"); m.L != 1 || m.N != 0 {
		t.Errorf("answer to ASK %+v, want the server listening (l 1) with no connection", m)
	}

	// A connection accepted by "eco" and passed on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pass := func(seq int) net.Conn {
		t.Helper()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		f, err := server.(*net.TCPConn).File()
		server.Close()
		if err != nil {
			t.Fatal(err)
		}
		send(fmt.Sprintf(`{"cmd":"NODE_HANDLE","type":"net.Native","msg":{"cmd":"NODE_ECO_CONN","e":7,"seq":%d}}`, seq), int(f.Fd()))
		f.Close() // the child has its own
		return client
	}
	client := pass(1)
	if m := next("the confirmation"); m.E != 7 || m.Seq != 1 || m.N != 1 || m.Back != 0 {
		t.Errorf("confirmation %+v, want e 7, seq 1, one connection open", m)
	}
	fmt.Fprintf(client, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if strings.TrimSpace(string(body)) != strconv.Itoa(p.cmd.Process.Pid) {
		t.Errorf("answer %q, want the app's pid %d", body, p.cmd.Process.Pid)
	}
	client.Close()
	if m := next("the close"); m.N != 0 || m.Seq != 1 {
		t.Errorf("after the close %+v, want no connection open", m)
	}

	// The server closes: the preload says so, and a socket passed then goes back.
	send(`"close"`, -1)
	p.waitLine("closed")
	if m := next("the server's close"); m.L != 0 {
		t.Errorf("after the server closed %+v, want l 0", m)
	}
	c2 := pass(2)
	defer c2.Close()
	if m := next("the socket sent back"); m.Seq != 2 || m.Back != 1 {
		t.Errorf("with no server %+v, want seq 2 sent back", m)
	}
}
