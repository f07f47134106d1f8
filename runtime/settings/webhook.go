package settings

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// webhookSchema is the webhook block's: its listener and where its secret is.
var webhookSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "listen", Required: true},
	{Name: "secret_file"},
	{Name: "secret_env"},
}}

// Secret says where the webhook's shared secret is: a file (relative to ECO_HOME) or an
// environment variable of the daemon. The secret itself is read when the receiver starts,
// and never kept in the settings, printed or logged.
type Secret struct {
	File  string
	Env   string
	Range hcl.Range // the attribute that set it
}

// Read returns the secret, surrounding white space trimmed.
func (s *Secret) Read() ([]byte, error) {
	var v string
	if s.File != "" {
		b, err := readSecretFile(s.File)
		if err != nil {
			return nil, fmt.Errorf("read the webhook secret: %w", err)
		}
		v = string(b)
	} else {
		var ok bool
		if v, ok = os.LookupEnv(s.Env); !ok {
			return nil, fmt.Errorf("the webhook secret's environment variable %s is not set", s.Env)
		}
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, errors.New("the webhook secret is empty")
	}
	return []byte(v), nil
}

// maxSecretBytes bounds the secret file.
const maxSecretBytes = 64 << 10

// readSecretFile reads a regular file of at most maxSecretBytes. secret_file = "/dev/zero"
// grew the daemon by 13 GB in 20 s, and a FIFO would have blocked its start for ever: the
// file is opened without blocking and must be a regular file.
func readSecretFile(name string) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", name, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretBytes {
		return nil, fmt.Errorf("%s is over %d KiB; a shared secret is far shorter", name, maxSecretBytes>>10)
	}
	return b, nil
}

var envName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// webhookSecret checks the block's secret_file and secret_env: exactly one is required,
// since the receiver acts only on signed requests.
func webhookSecret(home string, b *hcl.Block, attrs hcl.Attributes) (*Secret, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	str := func(name string) (string, *hcl.Attribute) {
		attr := attrs[name]
		if attr == nil {
			return "", nil
		}
		v, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
		if d.HasErrors() {
			return "", attr
		}
		if v.IsNull() || v.Type() != cty.String || strings.TrimSpace(v.AsString()) == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + name,
				Detail: name + " must be a non-empty string.", Subject: attr.Expr.Range().Ptr()})
			return "", attr
		}
		return v.AsString(), attr
	}
	file, fileAttr := str("secret_file")
	env, envAttr := str("secret_env")
	if diags.HasErrors() {
		return nil, diags
	}
	switch {
	case fileAttr == nil && envAttr == nil:
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing webhook secret",
			Detail:  "The webhook acts only on signed requests: set secret_file (a file holding the shared secret) or secret_env (an environment variable of the daemon).",
			Subject: b.DefRange.Ptr()})
	case fileAttr != nil && envAttr != nil:
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Conflicting webhook secrets",
			Detail: "Set secret_file or secret_env, not both.", Subject: envAttr.NameRange.Ptr()})
	case fileAttr != nil:
		if !filepath.IsAbs(file) {
			file = filepath.Join(home, file)
		}
		return &Secret{File: file, Range: fileAttr.Expr.Range()}, diags
	default:
		if !envName().MatchString(env) {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid secret_env",
				Detail: fmt.Sprintf("%q is not an environment variable name.", env), Subject: envAttr.Expr.Range().Ptr()})
		}
		return &Secret{Env: env, Range: envAttr.Expr.Range()}, diags
	}
}
