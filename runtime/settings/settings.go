package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/eco-pm/eco/ecosystem"
)

// FileName is the settings file's name inside ECO_HOME.
const FileName = "daemon.hcl"

// Path returns the settings file of the eco home.
func Path(home string) string { return filepath.Join(home, FileName) }

// Settings are the daemon's settings. The zero value is what a missing file means: no metrics
// listener, no webhook receiver.
type Settings struct {
	Metrics *Listener // nil: no /metrics
	Webhook *Listener // nil: no webhook receiver
	// WebhookSecret is where the webhook's shared secret is (webhook.go); set with Webhook.
	WebhookSecret *Secret
}

// Listener is one opt-in HTTP listener. Addr is a loopback host:port, checked.
type Listener struct {
	Addr  string
	Range hcl.Range // the listen attribute
}

// Load reads home's daemon.hcl. A missing file is the zero Settings and no diagnostics; an
// unreadable or invalid file gives diagnostics with positions and the zero Settings.
func Load(home string) (Settings, hcl.Diagnostics) {
	path := Path(home)
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Settings{}, nil
	}
	if err != nil {
		return Settings{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the daemon's settings", Detail: err.Error()}}
	}
	return Parse(path, src)
}

var (
	fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "metrics"}, {Type: "webhook"}}}
	// listenerSchema is shared by both blocks; each may gain attributes of its own later.
	listenerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "listen", Required: true}}}
)

// Parse checks a settings file's bytes; name is used in positions. It collects every problem.
func Parse(name string, src []byte) (Settings, hcl.Diagnostics) {
	f, diags := ecosystem.ParseHCL(src, name)
	if diags.HasErrors() {
		return Settings{}, diags
	}
	content, d := f.Body.Content(fileSchema)
	diags = append(diags, d...)
	var s Settings
	seen := map[string]*hcl.Range{}
	for _, b := range content.Blocks {
		if prev := seen[b.Type]; prev != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate " + b.Type + " block",
				Detail: fmt.Sprintf("A %s block is already defined at %s.", b.Type, prev), Subject: b.DefRange.Ptr()})
			continue
		}
		seen[b.Type] = b.DefRange.Ptr()
		l, attrs, d := listener(b)
		diags = append(diags, d...)
		switch b.Type {
		case "metrics":
			s.Metrics = l
		case "webhook":
			s.Webhook = l
			sec, d := webhookSecret(filepath.Dir(name), b, attrs)
			diags = append(diags, d...)
			s.WebhookSecret = sec
		}
	}
	if diags.HasErrors() {
		return Settings{}, diags
	}
	return s, diags
}

func listener(b *hcl.Block) (*Listener, hcl.Attributes, hcl.Diagnostics) {
	schema := listenerSchema
	if b.Type == "webhook" {
		schema = webhookSchema
	}
	content, diags := b.Body.Content(schema)
	attr := content.Attributes["listen"]
	if attr == nil {
		return nil, content.Attributes, diags
	}
	v, d := attr.Expr.Value(nil)
	diags = append(diags, d...)
	if d.HasErrors() {
		return nil, content.Attributes, diags
	}
	bad := func(detail string) (*Listener, hcl.Attributes, hcl.Diagnostics) {
		return nil, content.Attributes, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid listen address",
			Detail: detail, Subject: attr.Expr.Range().Ptr()})
	}
	if v.IsNull() || v.Type() != cty.String {
		return bad(`listen must be a string such as "127.0.0.1:9100".`)
	}
	addr := v.AsString()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad(fmt.Sprintf("%q is not host:port: %v.", addr, err))
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return bad(fmt.Sprintf("%q is not a loopback address: the %s listener has no authentication of its own, so it listens on 127.0.0.1, ::1 or localhost only.", host, b.Type))
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return bad(fmt.Sprintf("%q is not a port.", port))
	}
	return &Listener{Addr: addr, Range: attr.Expr.Range()}, content.Attributes, diags
}
