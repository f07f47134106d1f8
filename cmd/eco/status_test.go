package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/runtime"
)

// countingWriter counts the writes it is given, as a terminal or pipe counts system calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	return c.Buffer.Write(p)
}

// TestWriteAppTable_FewWrites checks that eco ls writes a table of a thousand instances in a
// few large writes, not one per cell (each a system call on stdout), and that every instance
// has its row under the header.
func TestWriteAppTable_FewWrites(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var apps []runtime.AppStatus
	for a := range 200 {
		app := runtime.AppStatus{Name: fmt.Sprintf("app%03d", a), Mode: "fork"}
		for i := range 5 {
			app.Instances = append(app.Instances, runtime.InstanceStatus{
				Index: i, Pid: 1000 + 5*a + i, State: "online", Started: now.Add(-90 * time.Second),
				CPU: 0.5, Memory: 3 << 20,
			})
		}
		apps = append(apps, app)
	}
	var w countingWriter
	if err := writeAppTable(&w, apps, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
	if len(lines) != 1+1000 || !strings.HasPrefix(lines[0], "NAME ") {
		t.Fatalf("table has %d lines, header %q: want a header and 1000 rows", len(lines), lines[0])
	}
	if f := strings.Fields(lines[1000]); len(f) < 9 || f[0] != "app199" || f[1] != "4" || f[3] != "1999" || f[4] != "online" {
		t.Errorf("last row = %q, want app199's instance 4, pid 1999, online", lines[1000])
	}
	if max := w.Len()/(64<<10) + 2; w.writes > max {
		t.Errorf("writeAppTable made %d writes for %d bytes, want at most %d", w.writes, w.Len(), max)
	}
}
