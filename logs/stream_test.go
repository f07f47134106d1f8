package logs

import (
	"errors"
	"io"
	"slices"
	"testing"
)

// scripted hands out its reads in order; ErrWouldBlock entries stand for an empty pipe.
type scripted struct{ reads []any }

func (s *scripted) ReadNow(b []byte) (int, error) {
	if len(s.reads) == 0 {
		return 0, ErrWouldBlock
	}
	r := s.reads[0]
	s.reads = s.reads[1:]
	switch r := r.(type) {
	case string:
		return copy(b, r), nil
	case error:
		return 0, r
	}
	panic("bad script")
}

func TestStream_Drain(t *testing.T) {
	boom := errors.New("boom")
	for _, end := range []error{io.EOF, boom} {
		r := &scripted{reads: []any{"a\nb", "c\n", ErrWouldBlock, "d\ne", ErrWouldBlock, "f", end}}
		var lines []string
		flushes := 0
		st := NewStream(r, 0, func(l []byte) { lines = append(lines, string(l)) }, func() { flushes++ })
		// Each Drain reads until the reader would block, a partial line carried between them.
		for i, want := range [][]string{{"a", "bc"}, {"a", "bc", "d"}} {
			ended, err := st.Drain()
			if ended || err != nil {
				t.Fatalf("drain %d: ended %v, %v", i, ended, err)
			}
			if !slices.Equal(lines, want) {
				t.Fatalf("drain %d: lines %q, want %q", i, lines, want)
			}
		}
		ended, err := st.Drain()
		wantErr := end
		if end == io.EOF {
			wantErr = nil
		}
		if !ended || !errors.Is(err, wantErr) && err != wantErr {
			t.Fatalf("last drain: ended %v, err %v; want ended, %v", ended, err, wantErr)
		}
		if want := []string{"a", "bc", "d", "ef"}; !slices.Equal(lines, want) {
			t.Errorf("lines %q, want %q (the partial line handed on at the end)", lines, want)
		}
		if flushes != 5 { // after each of the 4 reads with bytes, and at the end
			t.Errorf("%d flushes, want 5", flushes)
		}
	}
}
