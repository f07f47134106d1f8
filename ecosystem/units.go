package ecosystem

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

var daysRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)d`) })

// ParseDuration reads a duration written as a string: Go's form ("5s", "1m30s", "250ms") with
// "d" for days allowed in front ("7d", "1d12h"), or a bare number of milliseconds ("1600"), as
// PM2 writes them. Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty duration")
	}
	if ms, err := strconv.ParseFloat(t, 64); err == nil {
		return msDuration(ms)
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("%q is negative", s)
	}
	var days time.Duration
	if m := daysRE().FindStringSubmatch(t); m != nil {
		n, _ := strconv.ParseFloat(m[1], 64)
		// Converting a float over MaxInt64 gives MinInt64: "99999999999d" read as negative.
		if n*24*float64(time.Hour) >= math.MaxInt64 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		days = time.Duration(n * 24 * float64(time.Hour))
		t = t[len(m[0]):]
		if t == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	if d > math.MaxInt64-days {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return days + d, nil
}

// msDuration converts a number of milliseconds.
func msDuration(ms float64) (time.Duration, error) {
	switch {
	case ms < 0:
		return 0, fmt.Errorf("%v is negative", ms)
	case math.IsNaN(ms) || ms > float64(math.MaxInt64/int64(time.Millisecond)):
		return 0, fmt.Errorf("%v is too large", ms)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

var sizeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(i?[bB])?$`) })

// ParseSize reads a size: bytes ("1048576"), or a number with a unit ("300K", "512M", "1G",
// "1.5G", "10MB", "2GiB"). Units are powers of 1024, as in PM2.
func ParseSize(s string) (ByteSize, error) {
	m := sizeRE().FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	shift := 0
	if m[2] != "" {
		shift = strings.Index("KMGT", strings.ToUpper(m[2])) + 1
	}
	v := n * math.Pow(1024, float64(shift))
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(v), nil
}

// SplitArgs splits s into words the way a POSIX shell would: blanks separate words, single
// quotes keep everything literally, double quotes keep blanks and allow \" and \\, and a
// backslash outside quotes escapes the next character. No expansion of any kind is done.
func SplitArgs(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			if quote == '"' && r != '"' && r != '\\' && r != '$' && r != '`' {
				cur.WriteRune('\\')
			}
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case escaped:
		return nil, errors.New("ends with an unfinished backslash escape")
	case quote != 0:
		return nil, fmt.Errorf("has an unclosed %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
