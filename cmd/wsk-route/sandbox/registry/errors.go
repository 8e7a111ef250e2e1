package registry

import "errors"

// ErrBadName is returned for a namespace or workflow name that is empty,
// too long, or holds '/', "..", or control characters.
var ErrBadName = errors.New("registry: bad name")

// ErrBadInstance is returned for an instance that cannot be registered.
var ErrBadInstance = errors.New("registry: bad instance")

// ErrNotFound is returned by Pass for an instance that is not registered.
var ErrNotFound = errors.New("registry: instance not registered")

// ErrBadKey is returned when Options.KeyFile cannot be read back: not
// JSON, or a key without KeySize bytes.
var ErrBadKey = errors.New("registry: bad key file")

// ErrBadRunEvent is returned (wrapped) for a run event or run id the
// registry refuses.
var ErrBadRunEvent = errors.New("registry: bad run event")
