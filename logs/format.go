package logs

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// The streams a line comes from, as written in JSON lines.
const (
	StreamOut = "out"
	StreamErr = "err"
)

// Format turns a captured line into the bytes written to a log file.
type Format struct {
	// Layout is a Go time layout prefixed to each text line as "<time>: "; "" means no prefix.
	// Use TranslateLayout for PM2's log_date_format. JSON lines ignore it.
	Layout string
	// JSON writes one JSON object per line (PM2's log_type = "json").
	JSON     bool
	App      string
	Instance int
}

// jsonLine is a JSON log line; the field order is the order written.
type jsonLine struct {
	Time     string `json:"time"`
	App      string `json:"app"`
	Instance int    `json:"instance"`
	Stream   string `json:"stream"`
	Message  string `json:"message"`
}

// Line returns msg (a line without its '\n') as written, ending in '\n'.
//
// Text: "<now in Layout>: msg\n", or "msg\n" without a Layout; msg is copied byte for byte.
// JSON: {"time":RFC3339Nano,"app":..,"instance":..,"stream":..,"message":..}; bytes of msg that
// are not valid UTF-8 become U+FFFD, as encoding/json does, and HTML characters are not escaped.
func (f Format) Line(now time.Time, stream string, msg []byte) []byte {
	return f.AppendLine(nil, now, stream, msg)
}

// AppendLine appends the line Line returns to dst and returns the extended slice.
func (f Format) AppendLine(dst []byte, now time.Time, stream string, msg []byte) []byte {
	if f.JSON {
		b := bytes.NewBuffer(dst)
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		// Encoding a struct of strings and an int cannot fail.
		_ = enc.Encode(jsonLine{
			Time:     now.Format(time.RFC3339Nano),
			App:      f.App,
			Instance: f.Instance,
			Stream:   stream,
			Message:  string(msg),
		})
		return b.Bytes() // Encode ends the object with '\n'
	}
	if f.Layout != "" {
		dst = now.AppendFormat(dst, f.Layout)
		dst = append(dst, ": "...)
	}
	dst = append(dst, msg...)
	return append(dst, '\n')
}

// ParseLine reads back a line this Format wrote: its time and message, and whether the time
// could be read (a text line without a Layout has none).
func (f Format) ParseLine(line string) (t time.Time, stream, msg string, ok bool) {
	if f.JSON {
		var j jsonLine
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			return time.Time{}, "", line, false
		}
		t, err := time.Parse(time.RFC3339Nano, j.Time)
		return t, j.Stream, j.Message, err == nil
	}
	if f.Layout == "" {
		return time.Time{}, "", line, false
	}
	// The time ends at a ": ", which the time itself may contain ("15:04:05" has none with a
	// space, but a layout may).
	for i := 0; i < len(line) && i <= 2*len(f.Layout)+16; i++ {
		j := strings.Index(line[i:], ": ")
		if j < 0 {
			break
		}
		i += j
		if t, err := time.ParseInLocation(f.Layout, line[:i], time.Local); err == nil {
			return t, "", line[i+2:], true
		}
	}
	return time.Time{}, "", line, false
}

// dayjsTokens maps PM2's (dayjs/moment) format tokens to Go layout elements, longest first so
// that "YYYY" is not read as "YY" twice.
var dayjsTokens = []struct{ from, to string }{
	{"YYYY", "2006"}, {"MMMM", "January"}, {"dddd", "Monday"},
	{"MMM", "Jan"}, {"ddd", "Mon"}, {"SSS", "000"},
	{"YY", "06"}, {"MM", "01"}, {"DD", "02"}, {"HH", "15"}, {"hh", "03"},
	{"mm", "04"}, {"ss", "05"}, {"SS", "00"}, {"ZZ", "-0700"},
	{"M", "1"}, {"D", "2"}, {"H", "15"}, {"h", "3"}, {"m", "4"}, {"s", "5"},
	{"S", "0"}, {"A", "PM"}, {"a", "pm"}, {"Z", "-07:00"},
}

// TranslateLayout turns PM2's log_date_format (dayjs tokens, e.g. "YYYY-MM-DD HH:mm:ss Z") into
// a Go time layout ("2006-01-02 15:04:05 -07:00").
//
// A string that is already a Go layout is returned unchanged: one with a digit outside [...]
// (dayjs tokens are letters, Go's are mostly digits), which covers every layout with "2006".
// Tokens: YYYY YY MMMM MMM MM M DD D dddd ddd HH H hh h mm m ss s SSS SS S A a Z ZZ; [text] is
// copied without the brackets. Other characters are copied as they are. Go has no element
// for some dayjs tokens, so they are approximated: H (unpadded 24-hour) becomes "15"
// (padded). Go reads fractions (S, SS, SSS) only right after '.' or ',' ("ss.SSS"), and
// Go layouts cannot escape text, so copied text that spells a Go element ("Jan", "PM", "MST")
// is formatted as that element.
func TranslateLayout(pm2 string) string {
	if isGoLayout(pm2) {
		return pm2
	}
	var b strings.Builder
	for s := pm2; s != ""; {
		if s[0] == '[' {
			if end := strings.IndexByte(s, ']'); end >= 0 {
				b.WriteString(s[1:end])
				s = s[end+1:]
				continue
			}
		}
		matched := false
		for _, t := range dayjsTokens {
			if strings.HasPrefix(s, t.from) {
				b.WriteString(t.to)
				s = s[len(t.from):]
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte(s[0])
			s = s[1:]
		}
	}
	return b.String()
}

// isGoLayout reports whether s has an ASCII digit outside dayjs's [...] escapes.
func isGoLayout(s string) bool {
	inBracket := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '[':
			inBracket = true
		case c == ']':
			inBracket = false
		case c >= '0' && c <= '9' && !inBracket:
			return true
		}
	}
	return false
}
