package ecosystem

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
)

var (
	// pm2AppsRE finds PM2's apps list in JavaScript, JSON or YAML.
	pm2AppsRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)(^|[\s{,"'])apps["']?\s*[:=]`) })
	// pm2ExportsRE finds a JavaScript module's export.
	pm2ExportsRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`module\.exports|export\s+default`) })
)

// pm2FileDiag returns the error for a PM2 ecosystem file given where an HCL file is expected,
// which says how to convert it, or nil when src is not one. It goes by the name first
// (ecosystem.config.js, process.json, .yaml, dump.pm2) and then by the content, so an HCL file
// that merely mentions apps is never taken for one.
func pm2FileDiag(name string, src []byte) *hcl.Diagnostic {
	base := strings.ToLower(filepath.Base(name))
	head := src[:min(len(src), 1<<20)]
	isPM2 := false
	switch filepath.Ext(base) {
	case ".js", ".cjs", ".mjs":
		// An app's own script may export something (module.exports = app): it takes the apps
		// list, or a *.config.js name, to be a PM2 file.
		isPM2 = pm2ExportsRE().Match(head) && (pm2AppsRE().Match(head) || strings.Contains(base, ".config."))
	case ".json", ".yaml", ".yml":
		isPM2 = pm2AppsRE().Match(head) || bytes.Contains(head, []byte(`"pm_exec_path"`))
	case ".pm2":
		isPM2 = true
	}
	if !isPM2 {
		return nil
	}
	end := bytes.IndexByte(src, '\n')
	if end < 0 {
		end = len(src)
	}
	arg := name
	if strings.ContainsAny(arg, " \t'\"$`\\") {
		arg = "'" + strings.ReplaceAll(arg, "'", `'\''`) + "'"
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "This is a PM2 ecosystem file",
		Detail: fmt.Sprintf("eco reads HCL ecosystem files. Convert this one once, and apply the result:\n"+
			"  eco import %s > ecosystem.hcl\n  eco apply ecosystem.hcl\n"+
			"eco import maps every PM2 attribute, and says in a comment why when eco has no equivalent.", arg),
		Subject: &hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.Pos{Line: 1, Column: end + 1, Byte: end}},
	}
}

// IsPM2File reports whether src, the content of the file name, is a PM2 ecosystem file.
func IsPM2File(name string, src []byte) bool { return pm2FileDiag(name, src) != nil }

// pm2FileIn returns the path of the PM2 ecosystem file in folder dir, if one of the usual
// names (ecosystem.config.js, .cjs, .mjs, .json, .yaml, .yml, process.json) is there.
func pm2FileIn(dir string, entries []os.DirEntry) string {
	for _, e := range entries {
		name := e.Name()
		switch name {
		case "ecosystem.config.js", "ecosystem.config.cjs", "ecosystem.config.mjs", "ecosystem.json",
			"ecosystem.config.json", "ecosystem.yaml", "ecosystem.yml", "ecosystem.config.yaml", "process.json", "process.yml", "process.yaml":
		default:
			continue
		}
		path := filepath.Join(dir, name)
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		head, _ := io.ReadAll(io.LimitReader(f, 1<<20))
		f.Close()
		if IsPM2File(path, head) {
			return path
		}
	}
	return ""
}
