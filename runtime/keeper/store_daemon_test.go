package keeper

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// playStore checks the store from the daemon's side and attacks the keeper with messages the
// client never sends, through raw, a second descriptor on the daemon's socket (the replies go to
// the client's reader, which drops them). Each failed check is an event "fail".
func (d *daemon) playStore(raw int) error {
	if d.gen > 1 {
		select {}
	}
	check := func(what string, err error) {
		if err != nil {
			d.emit(event{Ev: "fail", Text: what + ": " + err.Error()})
		}
	}
	// A name stored again closes the keeper's old descriptor; Remove closes it too.
	ra, wa, _ := os.Pipe()
	rb, wb, _ := os.Pipe()
	check("put a", d.c.Put(d.ctx, Named{"x", wa}))
	wa.Close()
	check("put b", d.c.Put(d.ctx, Named{"x", wb}))
	wb.Close()
	check("replaced descriptor closed", readsEOF(ra))
	check("remove", d.c.Remove(d.ctx, "x", "never-stored"))
	check("removed descriptor closed", readsEOF(rb))

	// More descriptors than one message carries, both ways.
	const n = 600
	var named []Named
	var reads []*os.File
	for i := range n {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		named = append(named, Named{fmt.Sprintf("p%03d", i), w})
		reads = append(reads, r)
	}
	check("put many", d.c.Put(d.ctx, named...))
	for _, nm := range named {
		nm.File.Close()
	}
	files, err := d.c.Fetch(d.ctx)
	check("fetch many", err)
	if len(files) != n {
		check("fetch many", fmt.Errorf("%d descriptors, want %d", len(files), n))
	}
	for i, f := range files {
		if want := fmt.Sprintf("p%03d", i); f.Name != want {
			check("fetch order", fmt.Errorf("%s at %d, want %s", f.Name, i, want))
			break
		}
		fmt.Fprintf(f.File, "%d\n", i)
		f.File.Close()
	}
	var names []string
	for _, nm := range named {
		names = append(names, nm.Name)
	}
	check("remove many", d.c.Remove(d.ctx, names...))
	for i, r := range reads {
		b, err := io.ReadAll(r) // the line, then EOF: every copy of the write end is closed
		if err == nil && string(b) != fmt.Sprintf("%d\n", i) {
			err = fmt.Errorf("pipe %d read %q", i, b)
		}
		check("fetched descriptor works", err)
		r.Close()
	}
	files, err = d.c.Fetch(d.ctx)
	check("fetch empty", err)
	if len(files) != 0 {
		check("fetch empty", fmt.Errorf("%d descriptors left", len(files)))
	}

	// Garbage, with descriptors attached where that could leak them.
	kpid := d.c.KeeperPid()
	before := countFDs(kpid)
	_, w, _ := os.Pipe()
	wfd := int(w.Fd())
	rights := func(k int) []byte {
		fds := make([]int, k)
		for i := range fds {
			fds[i] = wfd
		}
		return unix.UnixRights(fds...)
	}
	attacks := []struct {
		msg string
		fds int
	}{
		{"not json", 2},
		{`{"v":99,"id":1,"op":"fetch"}`, 1},
		{`{"v":1,"id":2,"op":"nope"}`, 3},
		{`{"v":1,"id":3,"op":"put","names":["a","b"]}`, 1},
		{`{"v":1,"id":4,"op":"put","names":[""]}`, 1},
		{`{"v":1,"id":5,"op":"remove","names":["a"]}`, 4},
		{`{"v":1,"id":6,"op":"spawn"}`, 1},
		{`{"v":1,"id":7,"op":"spawn","spawn":{"argv":["/bin/true"],"files":[{"fd":5000,"passed":1}]}}`, 1},
		{`{"v":1,"id":8,"op":"spawn","spawn":{"argv":["/bin/true"],"files":[{"fd":3,"passed":7}]}}`, 1},
		{`{"v":1,"id":9,"op":"spawn","spawn":{"argv":["/bin/true"],"files":[{"fd":3,"passed":1,"name":"y"}]}}`, 1},
		{`{"v":1,"id":10,"op":"ack","seq":18446744073709551615}`, 2},
		{`{"v":1,"id":11,"op":"put","names":["` + string(make([]byte, 2000)) + `"]}`, 1},
		{`{"v":1,"id":12,"op":"hello"}`, 253},
	}
	for _, a := range attacks {
		if err := unix.Sendmsg(raw, []byte(a.msg), rights(a.fds), nil, 0); err != nil {
			check("send "+a.msg, err)
		}
		// The keeper still answers, in order, so it has handled the attack by now.
		_, err := d.c.Children(d.ctx)
		check("answer after "+a.msg, err)
	}
	w.Close()
	if after := countFDs(kpid); after != before {
		check("keeper descriptors", fmt.Errorf("%d before the attacks, %d after", before, after))
	}
	files, err = d.c.Fetch(d.ctx)
	check("fetch after attacks", err)
	if len(files) != 0 {
		check("fetch after attacks", fmt.Errorf("%d descriptors stored", len(files)))
	}
	d.emit(event{Ev: "checked"})

	// An empty datagram reads as the end of the connection: the keeper drops it, and this
	// daemon finds itself alone; the next one works.
	if err := unix.Sendmsg(raw, nil, nil, nil, 0); err != nil {
		return err
	}
	select {
	case _, ok := <-d.c.Exits():
		if ok {
			return errors.New("an exit record instead of the end")
		}
	case <-time.After(30 * time.Second):
		return errors.New("the connection did not end")
	}
	if _, err := d.c.Children(d.ctx); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("children after the end: %v", err)
	}
	d.emit(event{Ev: "cut"})
	os.Exit(1)
	return nil
}

// readsEOF reads r until EOF, failing on data or after 30s.
func readsEOF(r *os.File) error {
	r.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(r)
	if err == nil && len(b) > 0 {
		err = fmt.Errorf("read %q", b)
	}
	return err
}
