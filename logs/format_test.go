package logs

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTranslateLayout(t *testing.T) {
	tests := []struct {
		name, pm2, want string
	}{
		{"empty", "", ""},
		{"pm2 default", "YYYY-MM-DD HH:mm:ss Z", "2006-01-02 15:04:05 -07:00"},
		{"millis", "YYYY-MM-DDTHH:mm:ss.SSS", "2006-01-02T15:04:05.000"},
		{"short", "YY/M/D H:m:s", "06/1/2 15:4:5"},
		{"12 hour", "hh:mm A", "03:04 PM"},
		{"12 hour lower", "h:mm a", "3:04 pm"},
		{"zone compact", "HH:mm ZZ", "15:04 -0700"},
		{"names", "ddd, MMM D", "Mon, Jan 2"},
		{"long names", "dddd MMMM", "Monday January"},
		{"escaped text", "[at] HH:mm", "at 15:04"},
		{"comma fraction", "ss,SSS", "05,000"},
		{"go layout", "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000Z07:00"},
		{"go layout without year", "Jan _2 15:04:05", "Jan _2 15:04:05"},
		{"unclosed bracket", "[HH", "[15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TranslateLayout(tt.pm2); got != tt.want {
				t.Errorf("TranslateLayout(%q) = %q, want %q", tt.pm2, got, tt.want)
			}
		})
	}
}

func TestTranslateLayout_formats(t *testing.T) {
	now := time.Date(2024, 3, 9, 14, 5, 7, 123456789, time.FixedZone("", 2*3600))
	got := now.Format(TranslateLayout("YYYY-MM-DD HH:mm:ss.SSS Z"))
	if want := "2024-03-09 14:05:07.123 +02:00"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFormat_Line(t *testing.T) {
	now := time.Date(2024, 3, 9, 14, 5, 7, 0, time.UTC)
	tests := []struct {
		name string
		f    Format
		msg  string
		want string
	}{
		{"plain", Format{}, "hello", "hello\n"},
		{"plain empty", Format{}, "", "\n"},
		{"layout", Format{Layout: "2006-01-02 15:04:05"}, "hello", "2024-03-09 14:05:07: hello\n"},
		{"carriage return kept", Format{}, "a\r", "a\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.f.Line(now, StreamOut, []byte(tt.msg))); got != tt.want {
				t.Errorf("Line = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormat_Line_json(t *testing.T) {
	now := time.Date(2024, 3, 9, 14, 5, 7, 123456789, time.UTC)
	f := Format{JSON: true, App: "api", Instance: 3, Layout: "ignored 2006"}
	msg := `say "hi" <b> & tab	` + "\r"
	line := f.Line(now, StreamErr, []byte(msg))
	if len(line) == 0 || line[len(line)-1] != '\n' {
		t.Fatalf("line %q does not end in a newline", line)
	}
	if n := countByte(line, '\n'); n != 1 {
		t.Fatalf("line %q has %d newlines, want 1", line, n)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("unmarshal %q: %v", line, err)
	}
	want := map[string]any{
		"time":     "2024-03-09T14:05:07.123456789Z",
		"app":      "api",
		"instance": float64(3),
		"stream":   "err",
		"message":  msg,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON line (-want +got):\n%s", diff)
	}
	wantPrefix := `{"time":"2024-03-09T14:05:07.123456789Z","app":"api","instance":3,"stream":"err","message":"say \"hi\" <b> &`
	if string(line[:len(wantPrefix)]) != wantPrefix {
		t.Errorf("line = %s, want field order and unescaped HTML as in %s", line, wantPrefix)
	}
}

func countByte(b []byte, c byte) int {
	n := 0
	for _, x := range b {
		if x == c {
			n++
		}
	}
	return n
}
