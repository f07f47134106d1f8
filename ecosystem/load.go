package ecosystem

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Options are the inputs of a configuration besides its files.
type Options struct {
	// Profile selects env_<Profile> in every app (--env).
	Profile string
	// Vars are variable values given on the command line (--var name=value), as written.
	Vars map[string]string
	// LookupEnv reads eco's environment, for env() and ECO_VAR_<name>; nil reads nothing.
	LookupEnv func(string) (string, bool)
	// ReadFile reads a file for file(); nil refuses.
	ReadFile func(string) ([]byte, error)
	// CPUs is the number of CPUs available, for instances = "max" and cpus(); below 1 counts as 1.
	CPUs int
}

func (o *Options) lookupEnv(name string) (string, bool) {
	if o.LookupEnv == nil {
		return "", false
	}
	return o.LookupEnv(name)
}

func (o *Options) cpus() int { return max(o.CPUs, 1) }

// Parsed is a configuration's files, parsed but not yet decoded.
type Parsed struct {
	// Dir is the absolute folder the files are in.
	Dir string
	// Path is the absolute file or folder given to Parse; empty for ParseSource.
	Path string
	// Names are the files in reading order, as named to Parse.
	Names []string
	// Files are the parsed files by name.
	Files map[string]*hcl.File
}

// Sources returns each file's bytes by name, for printing diagnostics.
func (p *Parsed) Sources() map[string][]byte {
	src := make(map[string][]byte, len(p.Files))
	for name, f := range p.Files {
		src[name] = f.Bytes
	}
	return src
}

// Parse reads path (a file, or a folder of .hcl files) and parses every file, collecting every
// syntax error. It returns the files that parsed, even when others did not.
func Parse(path string) (*Parsed, hcl.Diagnostics) {
	names, err := Files(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration",
			Detail:   err.Error(),
		}}
	}
	dir := path
	if len(names) == 1 && names[0] == path {
		dir = filepath.Dir(path)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration", Detail: err.Error()}}
	}
	p := &Parsed{Dir: abs, Path: abs, Files: map[string]*hcl.File{}}
	if dir != path {
		p.Path = filepath.Join(abs, filepath.Base(path))
	}
	var diags hcl.Diagnostics
	for _, name := range names {
		src, err := readFileLimited(name)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read file",
				Detail:   err.Error(),
			})
			continue
		}
		diags = append(diags, p.Add(name, src)...)
	}
	return p, diags
}

// ParseSource parses one file held in memory, as if it were the file name in folder dir.
func ParseSource(dir, name string, src []byte) (*Parsed, hcl.Diagnostics) {
	p := &Parsed{Dir: dir, Files: map[string]*hcl.File{}}
	return p, p.Add(name, src)
}

// MaxFileBytes bounds one configuration file. Parsing costs about 25 times a file's size in
// memory (a 10 MB file took 263 MB), in the CLI and in the daemon, which parses a saved file
// or a pushed commit.
const MaxFileBytes = 4 << 20

// readFileLimited reads name, or its first MaxFileBytes+1 bytes when it is larger: enough
// for Add to refuse it without reading all of it.
func readFileLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
}

// ReadFile reads a configuration file for eco fmt and the like: an error when it is over
// MaxFileBytes, which is found without reading more (a device such as /dev/zero never ends).
func ReadFile(name string) ([]byte, error) {
	src, err := readFileLimited(name)
	if err == nil && len(src) > MaxFileBytes {
		err = fmt.Errorf("%s is over %d MiB; an ecosystem file is far smaller", name, MaxFileBytes>>20)
	}
	return src, err
}

// Add parses src as the file name and adds it to p.
func (p *Parsed) Add(name string, src []byte) hcl.Diagnostics {
	var f *hcl.File
	var diags hcl.Diagnostics
	if len(src) > MaxFileBytes {
		diags = hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "File too large",
			Detail:  fmt.Sprintf("%s is over %d MiB; an ecosystem file is far smaller. eco refuses it rather than spend the daemon's memory on it.", name, MaxFileBytes>>20),
			Subject: &hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos}}}
		src = nil
	} else if d := pm2FileDiag(name, src); d != nil {
		diags = hcl.Diagnostics{d} // not HCL: its syntax errors would only confuse
	} else {
		f, diags = ParseHCL(src, name)
	}
	if f == nil {
		// The file did not parse at all; keep its bytes so its diagnostics can be printed.
		f = &hcl.File{Body: hcl.EmptyBody(), Bytes: src}
	}
	if _, dup := p.Files[name]; !dup {
		p.Names = append(p.Names, name)
	}
	p.Files[name] = f
	return diags
}

// Load parses and decodes the configuration at path with the real environment and filesystem
// behind opts' nil fields. It returns a Config only when there is no error; p is returned
// whenever files were read, so diagnostics can be printed with their source.
func Load(path string, opts Options) (cfg *Config, p *Parsed, diags hcl.Diagnostics) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = ReadFile
	}
	p, diags = Parse(path)
	if p == nil || diags.HasErrors() {
		return nil, p, diags
	}
	cfg, more := Decode(p, opts)
	diags = append(diags, more...)
	if diags.HasErrors() {
		return nil, p, diags
	}
	diags = append(diags, checkFiles(cfg)...)
	return cfg, p, diags
}

// checkFiles warns about scripts and working directories that do not exist (yet): a build may
// create them before the app starts, so they are warnings, not errors.
func checkFiles(cfg *Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i := range cfg.Apps {
		app := &cfg.Apps[i]
		if info, err := os.Stat(app.Cwd); err != nil || !info.IsDir() {
			rng := app.DeclRange
			if r, ok := app.Ranges["cwd"]; ok {
				rng = r
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Working directory not found",
				Detail:   fmt.Sprintf("App %q runs in %s, which is not a folder (yet).", app.Name, app.Cwd),
				Subject:  rng.Ptr(),
			})
			continue
		}
		if app.Script == "" {
			if d := checkProgram(app); d != nil {
				diags = append(diags, d)
			}
			continue
		}
		info, err := os.Stat(app.Script)
		switch {
		case err != nil:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Script not found",
				Detail:   fmt.Sprintf("App %q runs %s, which does not exist (yet).", app.Name, app.Script),
				Subject:  app.Ranges["script"].Ptr(),
			})
		case info.IsDir():
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Script is a folder",
				Detail:   fmt.Sprintf("App %q runs %s, which is a folder, not a file.", app.Name, app.Script),
				Subject:  app.Ranges["script"].Ptr(),
			})
		case app.Interpreter == "" && info.Mode().Perm()&0o111 == 0:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Script not executable",
				Detail:   fmt.Sprintf("App %q runs %s directly (no interpreter), but the file is not executable: chmod +x it, or set interpreter.", app.Name, app.Script),
				Subject:  app.Ranges["script"].Ptr(),
			})
		}
	}
	return diags
}

// checkProgram warns when command's program is a path (it holds a /; a bare name is looked
// up in PATH when the app starts) that is not an executable file (yet).
func checkProgram(app *App) *hcl.Diagnostic {
	if len(app.Command) == 0 || !strings.Contains(app.Command[0], "/") {
		return nil
	}
	prog := app.Command[0]
	if !filepath.IsAbs(prog) {
		prog = filepath.Join(app.Cwd, prog)
	}
	var why string
	switch info, err := os.Stat(prog); {
	case err != nil:
		why = "which does not exist (yet)"
	case info.IsDir():
		why = "which is a folder, not a program"
	case info.Mode().Perm()&0o111 == 0:
		why = "which is not executable: chmod +x it, or put its interpreter first"
	default:
		return nil
	}
	rng := app.DeclRange
	if r, ok := app.Ranges["command"]; ok {
		rng = r
	}
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Program not runnable",
		Detail: fmt.Sprintf("App %q runs %s, %s.", app.Name, prog, why), Subject: rng.Ptr()}
}
