package runtime

import (
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
)

// The daemon checks everything it is sent with the rules of ecosystem.Check, the ones files
// are held to.

// maxApplyBytes bounds the body of POST /v1/apply.
const maxApplyBytes = 8 << 20

// readApplyRequest decodes an apply request strictly (one JSON value, no unknown field, at most
// maxApplyBytes) and checks it with the same rules as a file: a body that does not decode is an
// error, a request that does not pass the checks gives diagnostics.
func readApplyRequest(r *http.Request) (ApplyRequest, hcl.Diagnostics, error) {
	var req ApplyRequest
	r.Body = http.MaxBytesReader(nil, r.Body, maxApplyBytes)
	if err := control.DecodeJSON(r, &req); err != nil {
		return req, nil, err
	}
	diags := ecosystem.Check(&req.Config)
	if p := req.Source.Path; p != "" && !filepath.IsAbs(p) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid source path",
			Detail: fmt.Sprintf("source.path must be the absolute path of the applied file or folder; got %q.", p)})
	}
	return req, diags, nil
}

// checkProjects checks every project of a state (eco resurrect's dump).
func checkProjects(s *savedState) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, ps := range s.Projects {
		diags = append(diags, ecosystem.Check(&ps.Config)...)
	}
	return diags
}
