package pm2

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
)

// portRE finds the port a Node script listens on, written as the tutorials write it:
// listen(3000), process.env.PORT || 3000, or const PORT = 3000.
var portRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\.listen\(\s*(\d{2,5})\s*[,)]|process\.env\.PORT\s*(?:\|\||\?\?)\s*['"]?(\d{2,5})\b|(?:const|let|var)\s+(?:PORT|port)\s*=\s*['"]?(\d{2,5})\b`)
})

// ScriptPort reads the script at path (at most 1 MiB) for the one port it listens on. It
// returns 0 when it finds none, or several different ones; where says what it found, and in
// which file ("server.js: listen(3000)").
func ScriptPort(path string) (port int, where string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return 0, ""
	}
	return findPort(filepath.Base(path), src)
}

func findPort(name string, src []byte) (int, string) {
	found, what := 0, ""
	for _, m := range portRE().FindAllSubmatch(src, -1) {
		for i, g := range m[1:] {
			if len(g) == 0 {
				continue
			}
			n, err := strconv.Atoi(string(g))
			if err != nil || n < 1 || n > 65535 {
				continue
			}
			if found != 0 && n != found {
				return 0, "" // two ports: which one is shared is not for eco to guess
			}
			if found == 0 {
				found, what = n, []string{"listen(%d)", "process.env.PORT || %d", "PORT = %d"}[i]
			}
		}
	}
	if found == 0 {
		return 0, ""
	}
	return found, fmt.Sprintf("%s: "+what, name, found)
}
