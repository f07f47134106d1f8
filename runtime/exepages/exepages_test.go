package exepages

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestImageMappings_Choice checks which mappings of an smaps file Release drops:
// the executable's read-only private ones with no written page, and no other.
func TestImageMappings_Choice(t *testing.T) {
	const exe = "/opt/eco dir/eco"
	smaps := `00400000-00c00000 r-xp 00000000 fd:01 123 /opt/eco dir/eco
Size:               8192 kB
Rss:                6000 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
00c00000-01000000 r--p 00800000 fd:01 123 /opt/eco dir/eco
Size:               4096 kB
Rss:                3000 kB
Anonymous:             0 kB
01000000-01010000 r--p 00c00000 fd:01 123 /opt/eco dir/eco
Size:                 64 kB
Rss:                  64 kB
Anonymous:             4 kB
01010000-01020000 rw-p 00c10000 fd:01 123 /opt/eco dir/eco
Size:                 64 kB
Rss:                  64 kB
Anonymous:             0 kB
7f0000000000-7f0000200000 r-xp 00000000 fd:01 456 /usr/lib/libc.so.6
Size:               2048 kB
Rss:                 900 kB
Anonymous:             0 kB
7f0000300000-7f0000301000 r--s 00000000 fd:01 123 /opt/eco dir/eco
Size:                  4 kB
Rss:                   4 kB
Anonymous:             0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  16 kB
Anonymous:            16 kB
`
	got := imageMappings([]byte(smaps), exe)
	want := []imageMapping{
		{start: 0x400000, end: 0xc00000, rss: 6000 << 10},
		{start: 0xc00000, end: 0x1000000, rss: 3000 << 10},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(imageMapping{})); diff != "" {
		t.Errorf("imageMappings (-want +got):\n%s", diff)
	}
}

// TestRelease_DropsMappedPages releases the test binary's own pages: the call
// reports the bytes it found mapped, fewer of them are mapped afterwards, and the process
// runs on (the pages come back as they are touched).
func TestRelease_DropsMappedPages(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Skipf("no /proc/self/exe: %v", err)
	}
	mapped := func() uint64 {
		data, err := os.ReadFile("/proc/self/smaps")
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, m := range imageMappings(data, exe) {
			n += m.rss
		}
		return n
	}
	before := mapped()
	if before == 0 {
		t.Fatalf("no page of %s mapped before the release", exe)
	}
	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	if released == 0 {
		t.Error("Release released nothing")
	}
	if after := mapped(); after >= before {
		t.Errorf("pages of the executable mapped: %d bytes before the release, %d after", before, after)
	}
}
