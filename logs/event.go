package logs

import (
	"strings"
	"time"
)

// The streams of eco's own lines in an app's log, next to the app's out and err: lifecycle
// events (started, ready, exited, restarting, stopped) and the messages an instance sent over
// its IPC channel (process.send).
const (
	StreamEco     = "eco"
	StreamMessage = "message"
)

// EventPrefix starts the text of eco's lines in a text log file, so that they stand apart
// from the app's output. In JSON log files (log_type = "json") the stream field says it
// instead: "eco" or "message", which the app's output cannot have.
const EventPrefix = "[eco] "

// AppendEvent appends one of eco's lines about instance who ("web[0]") to dst as f writes it:
// stream is StreamEco or StreamMessage. A text line is "[eco] web[0] started (pid 42)" or
// "[eco] web[0] message {...}", so that a file of several instances (merge_logs) says whose
// it is; a JSON line has msg alone, its app and instance being fields of their own.
func (f Format) AppendEvent(dst []byte, now time.Time, stream, who, msg string) []byte {
	if f.JSON {
		return f.AppendLine(dst, now, stream, []byte(msg))
	}
	line := make([]byte, 0, len(EventPrefix)+len(who)+len(" message ")+len(msg))
	line = append(line, EventPrefix...)
	line = append(line, who...)
	line = append(line, ' ')
	if stream == StreamMessage {
		line = append(line, "message "...)
	}
	line = append(line, msg...)
	return f.AppendLine(dst, now, stream, line)
}

// ParseEvent reads back the text of one of eco's lines in a text log file (without its time):
// its stream, whose it is and its message, or ok false for a line of the app's own output. A
// text file cannot tell an app's line that happens to look like one of eco's from eco's; a
// JSON file can.
func ParseEvent(line string) (stream, who, msg string, ok bool) {
	rest, ok := strings.CutPrefix(line, EventPrefix)
	if !ok {
		return "", "", line, false
	}
	who, rest, ok = strings.Cut(rest, " ")
	if !ok || !strings.HasSuffix(who, "]") {
		return "", "", line, false
	}
	if m, ok := strings.CutPrefix(rest, "message "); ok {
		return StreamMessage, who, m, true
	}
	return StreamEco, who, rest, true
}
