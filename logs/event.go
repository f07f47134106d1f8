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

// AppendEvent appends one of eco's lines to dst as f writes it: stream is StreamEco or
// StreamMessage. Text lines start with EventPrefix, and a message's text with "message ".
func (f Format) AppendEvent(dst []byte, now time.Time, stream, msg string) []byte {
	if f.JSON {
		return f.AppendLine(dst, now, stream, []byte(msg))
	}
	line := make([]byte, 0, len(EventPrefix)+len("message ")+len(msg))
	line = append(line, EventPrefix...)
	if stream == StreamMessage {
		line = append(line, "message "...)
	}
	line = append(line, msg...)
	return f.AppendLine(dst, now, stream, line)
}

// ParseEvent reads back the text of one of eco's lines in a text log file: its stream and
// message, or ok false for a line of the app's own output. A text file cannot tell an app's
// line that happens to begin with EventPrefix from eco's; a JSON file can.
func ParseEvent(msg string) (stream, text string, ok bool) {
	rest, ok := strings.CutPrefix(msg, EventPrefix)
	if !ok {
		return "", msg, false
	}
	if m, ok := strings.CutPrefix(rest, "message "); ok {
		return StreamMessage, m, true
	}
	return StreamEco, rest, true
}
