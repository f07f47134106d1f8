package logs

import (
	"encoding/json"
	"strings"
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

func TestFormat_AppendLine(t *testing.T) {
	now := time.Date(2024, 3, 9, 14, 5, 7, 123000000, time.UTC)
	for _, f := range []Format{{}, {Layout: "2006-01-02 15:04:05.000"}, {JSON: true, App: "api", Instance: 2}} {
		for _, dst := range [][]byte{nil, []byte("before\n"), make([]byte, 3, 1000)} {
			prefix := string(dst)
			got := f.AppendLine(dst, now, StreamErr, []byte("msg: x"))
			want := prefix + string(f.Line(now, StreamErr, []byte("msg: x")))
			if string(got) != want {
				t.Errorf("%+v: AppendLine(%q) = %q, want %q", f, prefix, got, want)
			}
		}
	}
}

func TestFormat_ParseLine(t *testing.T) {
	// Every line a Format writes reads back: its message byte for byte and its time to the
	// layout's precision.
	formats := []struct {
		name string
		f    Format
	}{
		{"go layout", Format{Layout: "2006-01-02 15:04:05"}},
		{"go layout with zone", Format{Layout: "2006-01-02T15:04:05.000000000Z07:00"}},
		{"go syslog layout", Format{Layout: "Jan _2 15:04:05"}},
		{"colon space in layout", Format{Layout: "2006-01-02: 15:04:05"}},
		{"colon spaces in layout", Format{Layout: "Mon: Jan 2 2006: 15:04: 05 MST"}},
		{"colon space at the end of layout", Format{Layout: "15:04:05.000: "}},
		{"pm2 default", Format{Layout: TranslateLayout("YYYY-MM-DD HH:mm:ss Z")}},
		{"pm2 millis", Format{Layout: TranslateLayout("YYYY-MM-DDTHH:mm:ss.SSS")}},
		{"pm2 12 hour", Format{Layout: TranslateLayout("hh:mm:ss A")}},
		{"pm2 names", Format{Layout: TranslateLayout("dddd, MMMM D YYYY h:mm:ss a ZZ")}},
		{"pm2 short", Format{Layout: TranslateLayout("YY/M/D H:m:s")}},
		{"pm2 escaped colon space", Format{Layout: TranslateLayout("[day:] YYYY-MM-DD [time:] HH:mm:ss.SSS")}},
		{"json", Format{JSON: true, App: "api", Instance: 1}},
	}
	times := []time.Time{
		time.Date(2024, 3, 9, 14, 5, 7, 123456789, time.UTC),
		time.Date(2024, 12, 31, 0, 0, 0, 0, time.FixedZone("", 5*3600+1800)),
		time.Date(2025, 1, 1, 9, 8, 7, 1000000, time.Local),
		time.Date(2023, 7, 4, 12, 30, 0, 0, time.FixedZone("", -7*3600)),
	}
	msgs := []string{
		"hello",
		"",
		"key: value: more",
		": starts with one",
		"2024-03-09 14:05:07: looks like a time",
		"cr\r",
		"tab\tand ünïcode",
		`{"json": true}`,
	}
	for _, ft := range formats {
		t.Run(ft.name, func(t *testing.T) {
			for _, now := range times {
				if ft.f.Layout != "" && strings.Contains(ft.f.Layout, "MST") {
					now = now.UTC() // a zone name reads back only if it is known
				}
				for _, msg := range msgs {
					for _, stream := range []string{StreamOut, StreamErr} {
						line := string(ft.f.Line(now, stream, []byte(msg)))
						line = strings.TrimSuffix(line, "\n")
						gotT, gotStream, gotMsg, ok := ft.f.ParseLine(line)
						if !ok || gotMsg != msg {
							t.Fatalf("ParseLine(%q) = %v, %q, %q, %v; want message %q", line, gotT, gotStream, gotMsg, ok, msg)
						}
						if ft.f.JSON {
							if !gotT.Equal(now) || gotStream != stream {
								t.Errorf("ParseLine(%q) = %v, %q; want %v, %q", line, gotT, gotStream, now, stream)
							}
							continue
						}
						if gotStream != "" {
							t.Errorf("ParseLine(%q) stream = %q, want none in a text line", line, gotStream)
						}
						if got, want := gotT.Format(ft.f.Layout), now.Format(ft.f.Layout); got != want {
							t.Errorf("ParseLine(%q) time formats as %q, want %q", line, got, want)
						}
					}
				}
			}
		})
	}
}

func TestFormat_ParseLine_full(t *testing.T) {
	// With a layout that has the date, the time and the zone, the time read back is the same
	// instant.
	for _, layout := range []string{time.RFC3339Nano, TranslateLayout("YYYY-MM-DD HH:mm:ss.SSS Z"), "2006-01-02: 15:04:05.000 -0700"} {
		f := Format{Layout: layout}
		now := time.Date(2024, 3, 9, 14, 5, 7, 123000000, time.FixedZone("", -3*3600))
		got, _, _, ok := f.ParseLine(strings.TrimSuffix(string(f.Line(now, StreamOut, []byte("x: y"))), "\n"))
		if !ok || !got.Equal(now) {
			t.Errorf("layout %q: ParseLine time = %v, %v; want %v", layout, got, ok, now)
		}
	}
}

func TestFormat_ParseLine_unreadable(t *testing.T) {
	layout := Format{Layout: "2006-01-02 15:04:05"}
	tests := []struct {
		name       string
		f          Format
		line       string
		wantStream string
		wantMsg    string
	}{
		{"no layout", Format{}, "2024-03-09 14:05:07: hello", "", "2024-03-09 14:05:07: hello"},
		{"no layout, empty", Format{}, "", "", ""},
		{"no separator", layout, "2024-03-09 14:05:07 hello", "", "2024-03-09 14:05:07 hello"},
		{"not a time", layout, "hello: world", "", "hello: world"},
		{"another layout", layout, "14:05:07: hello", "", "14:05:07: hello"},
		{"empty", layout, "", "", ""},
		{"json, not json", Format{JSON: true}, "plain: text", "", "plain: text"},
		{"json, bad time", Format{JSON: true}, `{"time":"soon","stream":"err","message":"m"}`, "err", "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotT, stream, msg, ok := tt.f.ParseLine(tt.line)
			if ok || !gotT.IsZero() || stream != tt.wantStream || msg != tt.wantMsg {
				t.Errorf("ParseLine(%q) = %v, %q, %q, %v; want no time, %q, %q", tt.line, gotT, stream, msg, ok, tt.wantStream, tt.wantMsg)
			}
		})
	}
}
