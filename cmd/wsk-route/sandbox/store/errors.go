package store

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned when an entity, activation or subject does not
// exist (or a subject's key does not match).
var ErrNotFound = errors.New("store: not found")

// ErrExists is returned by PutAction and PutPackage when the entity exists
// and overwrite is false.
var ErrExists = errors.New("store: already exists")

// ErrNotEmpty is returned (inside a *NotEmptyError) by DeletePackage when
// the package still holds actions.
var ErrNotEmpty = errors.New("store: package not empty")

// NotEmptyError says how many entities a package that could not be deleted
// still holds. errors.Is(err, ErrNotEmpty) is true for it.
type NotEmptyError struct {
	// Package is "namespace/package".
	Package string
	// Entities is the number of actions in the package.
	Entities int
}

// Error implements error.
func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("store: package %s not empty (contains %d actions)", e.Package, e.Entities)
}

// Is reports whether target is ErrNotEmpty.
func (e *NotEmptyError) Is(target error) bool { return target == ErrNotEmpty }
