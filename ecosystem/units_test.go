package ecosystem

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "1600", want: 1600 * time.Millisecond},
		{in: "0", want: 0},
		{in: "1.5", want: 1500 * time.Microsecond},
		{in: "5s", want: 5 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: " 2s ", want: 2 * time.Second},
		{in: "", wantErr: true},
		{in: "-1s", wantErr: true},
		{in: "-5", wantErr: true},
		{in: "5 seconds", wantErr: true},
		{in: "d", wantErr: true},
		{in: "1e30", wantErr: true},
		// Over time.Duration's range (292 years): an error, never a wrapped negative.
		{in: "99999999999d", wantErr: true},
		{in: "106751d", want: 106751 * 24 * time.Hour},
		{in: "106751d100000h", wantErr: true},
		{in: "1000000000h", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDuration(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{in: "1024", want: 1024},
		{in: "300K", want: 300 << 10},
		{in: "512M", want: 512 << 20},
		{in: "1G", want: 1 << 30},
		{in: "1g", want: 1 << 30},
		{in: "1.5G", want: 3 << 29},
		{in: "10MB", want: 10 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "1T", want: 1 << 40},
		{in: "12B", want: 12},
		{in: "", wantErr: true},
		{in: "-1G", wantErr: true},
		{in: "1 gigabyte", wantErr: true},
		{in: "G", wantErr: true},
		{in: "99999999999T", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSize(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestByteSize_String(t *testing.T) {
	for in, want := range map[ByteSize]string{0: "0", 17: "17", 1 << 30: "1G", 512 << 20: "512M", 1536: "1536", 300 << 10: "300K"} {
		if got := in.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(in), got, want)
		}
	}
}

func TestDuration_JSON(t *testing.T) {
	for _, d := range []time.Duration{0, 1600 * time.Millisecond, 90 * time.Second, time.Hour, 7 * 24 * time.Hour, 36 * time.Hour} {
		b, err := json.Marshal(Duration(d))
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if back.D() != d {
			t.Errorf("%v -> %s -> %v", d, b, back.D())
		}
	}
	var ms Duration
	if err := json.Unmarshal([]byte("1600"), &ms); err != nil || ms.D() != 1600*time.Millisecond {
		t.Errorf("unmarshal 1600 = %v, %v; want 1.6s", ms, err)
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "a b  c", want: []string{"a", "b", "c"}},
		{in: `--name 'two words'`, want: []string{"--name", "two words"}},
		{in: `"a \"b\" \c"`, want: []string{`a "b" \c`}},
		{in: `a\ b`, want: []string{"a b"}},
		{in: `''`, want: []string{""}},
		{in: `x'y'"z"`, want: []string{"xyz"}},
		{in: `'unclosed`, wantErr: true},
		{in: `trailing\`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := SplitArgs(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SplitArgs(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SplitArgs(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
