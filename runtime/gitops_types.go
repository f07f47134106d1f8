package runtime

import (
	"time"

	"github.com/eco-pm/eco/runtime/gitsource"
)

// The control API's GitOps messages (gitops.go).

// GitRegisterRequest asks the daemon to follow a repository (eco apply --git).
type GitRegisterRequest struct {
	Spec gitsource.Spec `json:"spec"`
	// Path is the file or folder inside the repository to apply; empty is its root.
	Path string `json:"path,omitempty"`
	// Interval is how often the remote is asked for a new commit.
	Interval time.Duration     `json:"interval"`
	Profile  string            `json:"profile,omitempty"`
	Vars     map[string]string `json:"vars,omitempty"`
	// SelfHeal (default true) puts back, within one interval, what was stopped, deleted or
	// scaled by hand; false only reports it (OutOfSync with what differs).
	SelfHeal *bool `json:"self_heal,omitempty"`
}

// The sync states of a git project.
const (
	GitSynced    = "Synced"
	GitOutOfSync = "OutOfSync"
	GitFailed    = "Failed"
)

// The health of a git project's apps.
const (
	GitHealthy     = "Healthy"
	GitProgressing = "Progressing"
	GitDegraded    = "Degraded"
)

// GitStatus is what eco ls, eco describe and eco sync show of a git project.
type GitStatus struct {
	Project  string        `json:"project"`
	URL      string        `json:"url"` // any password in it shown as xxxxx
	Ref      string        `json:"ref,omitempty"`
	Path     string        `json:"path,omitempty"`
	Interval time.Duration `json:"interval"`
	SelfHeal bool          `json:"self_heal"`
	// Revision is the commit the apps run.
	Revision *gitsource.Commit `json:"revision,omitempty"`
	Sync     string            `json:"sync"`
	Health   string            `json:"health,omitempty"`
	// Pinned is the SHA eco rollback pinned; auto-sync is suspended while it is set.
	Pinned string `json:"pinned,omitempty"`
	// Message says why the project is not Synced, in words.
	Message string `json:"message,omitempty"`
	// Errors are those of the newest commit, which does not check (file:line:col, relative
	// to the repository), and ErrorCommit is that commit.
	Errors      []string          `json:"errors,omitempty"`
	ErrorCommit *gitsource.Commit `json:"error_commit,omitempty"`
	// Drift lists what differs from the revision (self_heal = false), as plan lines.
	Drift []string `json:"drift,omitempty"`
	// Latest is the SHA the ref pointed at at the last fetch.
	Latest string `json:"latest,omitempty"`
	// LastFetch is when the remote last answered; LastFetchError is the last failure, at
	// LastFetchErrorAt, kept until a fetch works again.
	LastFetch        time.Time `json:"last_fetch,omitzero"`
	LastFetchError   string    `json:"last_fetch_error,omitempty"`
	LastFetchErrorAt time.Time `json:"last_fetch_error_at,omitzero"`
	// Failed are the SHAs that are not tried again until a newer commit, with the reason.
	Failed map[string]string `json:"failed,omitempty"`
}

// The results of a history entry.
const (
	GitApplied    = "applied"
	GitFailedRev  = "failed"
	GitRolledBack = "rolled back"
	GitInvalid    = "invalid"
	GitPinned     = "pinned"
)

// GitHistoryEntry is one revision the daemon acted on.
type GitHistoryEntry struct {
	Commit gitsource.Commit `json:"commit"`
	At     time.Time        `json:"at"`
	// Result is applied, failed, rolled back (the revision was put back after a newer one
	// failed), invalid (it did not check) or pinned (eco rollback).
	Result  string       `json:"result"`
	Plan    []PlanChange `json:"plan"`
	Message string       `json:"message,omitempty"`
}

// GitProjectInfo is GET /v1/git/{project}: the status and the history, newest first.
type GitProjectInfo struct {
	Status  GitStatus         `json:"status"`
	History []GitHistoryEntry `json:"history"`
}

// GitSyncRequest is POST /v1/git/{project}/sync.
type GitSyncRequest struct {
	// Resume ends a pin set by eco rollback before syncing.
	Resume bool `json:"resume,omitempty"`
}

// GitRollbackRequest is POST /v1/git/{project}/rollback.
type GitRollbackRequest struct {
	// Rev is a SHA or its prefix of an applied revision; empty is the one before the current.
	Rev string `json:"rev,omitempty"`
}

// GitSyncResponse says what a registration, sync or rollback did.
type GitSyncResponse struct {
	Status GitStatus `json:"status"`
	// Done are the history entries this request added (the plan of each), oldest first.
	Done []GitHistoryEntry `json:"done"`
	// Error is why the request did not reach Synced, in words ("" when it did).
	Error string `json:"error,omitempty"`
}

// AppSource is GET /v1/apps/{name}/source: where an app's configuration comes from, for eco
// scale to write the count there.
type AppSource struct {
	App     string `json:"app"`
	Project string `json:"project"`
	// Path is the file or folder applied ("" when the configuration came without one).
	Path string `json:"path,omitempty"`
	// Watched is true when a save of Path is applied by the hot reconcile.
	Watched bool `json:"watched"`
	// Desired is the app's instance count now; MaxInstances its limit (max_instances or the
	// default), which eco scale checks before it writes a file or pushes a commit.
	Desired      int `json:"desired"`
	MaxInstances int `json:"max_instances,omitempty"`
	// Git is set for an app of a git project: what it follows, and the file or folder inside
	// the repository.
	Git     *gitsource.Spec `json:"git,omitempty"`
	GitPath string          `json:"git_path,omitempty"`
}
