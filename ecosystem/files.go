package ecosystem

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Ext is the extension of ecosystem files.
const Ext = ".hcl"

// Files lists the ecosystem files that path names: path itself when it is a file, or every
// .hcl file directly inside it (sorted by name) when it is a folder, like terraform does.
func Files(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, Ext) || strings.HasPrefix(name, ".") {
			continue
		}
		files = append(files, filepath.Join(path, name))
	}
	if len(files) == 0 {
		if pm2 := pm2FileIn(path, entries); pm2 != "" {
			return nil, fmt.Errorf("%s: no %s files in this folder, but a PM2 ecosystem file, %s. Convert it once:\n  eco import %s > %s", path, Ext, filepath.Base(pm2), pm2, filepath.Join(path, "ecosystem"+Ext))
		}
		return nil, fmt.Errorf("%s: no %s files in this folder", path, Ext)
	}
	sort.Strings(files)
	return files, nil
}
