package logs

import (
	"encoding/json"
	"testing"
	"time"
)

func TestFormat_AppendEvent(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		f      Format
		stream string
		msg    string
		want   string
	}{
		{"text", Format{}, StreamEco, "started (pid 42)", "[eco] web[0] started (pid 42)\n"},
		{"text message", Format{}, StreamMessage, `{"a":1}`, "[eco] web[0] message {\"a\":1}\n"},
		{"stamped", Format{Layout: "15:04:05"}, StreamEco, "stopped", "10:00:00: [eco] web[0] stopped\n"},
		{"json", Format{JSON: true, App: "web"}, StreamMessage, `{"a":1}`,
			`{"time":"2026-12-06T10:00:00Z","app":"web","instance":0,"stream":"message","message":"{\"a\":1}"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.f.AppendEvent(nil, now, tt.stream, "web[0]", tt.msg))
			if got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
			if tt.f.JSON {
				if !json.Valid([]byte(got)) {
					t.Fatalf("not JSON: %q", got)
				}
				return
			}
			_, _, text, _ := tt.f.ParseLine(got[:len(got)-1])
			stream, who, msg, ok := ParseEvent(text)
			if !ok || stream != tt.stream || who != "web[0]" || msg != tt.msg {
				t.Errorf("ParseEvent(%q) = %q %q %q %v", text, stream, who, msg, ok)
			}
		})
	}
}

func TestParseEvent_AppLines(t *testing.T) {
	for _, line := range []string{"hello", "[eco]", "[eco] ", "[eco] started", "[eco]web[0] x", "eco web[0] x"} {
		if stream, _, msg, ok := ParseEvent(line); ok || msg != line {
			t.Errorf("ParseEvent(%q) = %q, %q, %v; want the app's own line", line, stream, msg, ok)
		}
	}
}
