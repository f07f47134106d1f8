// Command gitops times eco's GitOps: from a commit to the followed branch until every instance runs the new revision and is ready, with the webhook and with a 1 s poll interval.
package main
