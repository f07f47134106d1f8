package gitsource

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// UnverifiedError is a commit refused by verify_keys: unsigned, or signed by another key.
type UnverifiedError struct {
	Commit Commit
	Reason string
}

func (e *UnverifiedError) Error() string {
	return fmt.Sprintf("commit %s %s", e.Commit.Short(), e.Reason)
}

// checkKeys reports whether armored holds at least one OpenPGP public key.
func checkKeys(armored string) error {
	ring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armored))
	if err != nil {
		return fmt.Errorf("verify_keys: not armored OpenPGP public keys: %w", err)
	}
	if len(ring) == 0 {
		return errors.New("verify_keys: no key")
	}
	return nil
}

// verify checks c's signature against the armored keys.
func verify(c *object.Commit, armored string) error {
	if strings.TrimSpace(c.PGPSignature) == "" {
		return &UnverifiedError{Commit: describe(c), Reason: "is not signed, and verify_keys requires a signature"}
	}
	signer, err := c.Verify(armored)
	if err != nil {
		return &UnverifiedError{Commit: describe(c), Reason: "is not signed by a key of verify_keys: " + err.Error()}
	}
	if signer == nil {
		return &UnverifiedError{Commit: describe(c), Reason: "has a signature that names no key of verify_keys"}
	}
	return nil
}
