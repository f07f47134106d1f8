package proxy

import "encoding/json"

// The control protocol of a proxy process (Serve), version WireVersion: JSON lines over a unix
// stream socket (mode 0600; a peer of another uid, root excepted, is closed at once).
//
// Each request is one line, {"v":1,"id":N,"op":OP,...}, answered by one line {"id":N,"ok":...}:
//
//	hello   logs               -> v, pid, app, port, mode, backends (with their counters): the state a new
//	                              controller takes over
//	add     key addr           -> Add
//	drain   key                -> drained true when nothing is left to wait for; otherwise an
//	                              event {"ev":"drained","key":...} follows on the same
//	                              connection once the key has no connection left
//	remove  key                -> Remove
//	mode    mode               -> SetMode
//	stats                      -> backends
//	stop    grace_ms           -> answered at once; the process then stops accepting, drains
//	                              every backend for up to grace_ms and exits, which closes
//	                              every control connection
//	release                    -> answered once the process accepts no more and has shut the
//	                              public listening socket down, for every process that holds it:
//	                              the port can be bound again at once (the app stops). The open
//	                              connections go on; the control socket takes no new controller
//	                              and its file is removed, for the next process; a stop follows
//	listener                   -> the answer carries the public listening socket as SCM_RIGHTS
//	                              (read it with ReadMsgUnix; the connection serves nothing else)
//
// hello, stop and listener are answered whatever the request's version, so that a daemon of
// another version can still take the socket over and stop the process (adoption replaces it).
//
// A connection that asks hello with logs true also gets the process's log records as events,
// {"ev":"log","rec":{...slog JSON...}}, dropped when it reads too slowly. A line that is not a
// request of this version is answered with ok false and an error; the connection stays usable.

// WireVersion is the version of the control protocol; a request of another version is refused.
const WireVersion = 1

// maxLine bounds one control line; a longer one ends the connection.
const maxLine = 1 << 20

// request is one control request.
type request struct {
	V       int    `json:"v"`
	ID      uint64 `json:"id"`
	Op      string `json:"op"`
	Key     string `json:"key,omitempty"`
	Addr    string `json:"addr,omitempty"`
	Mode    Mode   `json:"mode,omitempty"`
	GraceMS int64  `json:"grace_ms,omitempty"`
	Logs    bool   `json:"logs,omitempty"`
}

// reply answers one request; Ev is set on events instead of ID.
type reply struct {
	ID       uint64         `json:"id,omitempty"`
	OK       bool           `json:"ok,omitempty"`
	Err      string         `json:"err,omitempty"`
	Pid      int            `json:"pid,omitempty"`
	V        int            `json:"v,omitempty"`
	Mode     Mode           `json:"mode,omitempty"`
	Backends []BackendStats `json:"backends,omitempty"`
	Drained  bool           `json:"drained,omitempty"`
	App      string         `json:"app,omitempty"`
	Port     int            `json:"port,omitempty"`

	Ev  string          `json:"ev,omitempty"`
	Key string          `json:"key,omitempty"`
	Rec json.RawMessage `json:"rec,omitempty"`
}

// State is what a proxy process reports to a controller that says hello.
type State struct {
	V        int // the protocol version the process speaks
	Pid      int
	App      string
	Port     int // the public listener's
	Mode     Mode
	Backends []BackendStats
}
