package gitsource

import (
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"
)

func describe(c *object.Commit) Commit {
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return Commit{SHA: c.Hash.String(), Subject: subject, Author: c.Author.Name, Time: c.Author.When.UTC()}
}
