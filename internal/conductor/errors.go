package conductor

import "errors"

// ErrInvalid reports composer JSON that is not a composition: bad JSON, an
// unknown combinator, a field of the wrong type, an invalid action name.
var ErrInvalid = errors.New("conductor: invalid composition")

// ErrTooLarge reports a composition over a Limits bound.
var ErrTooLarge = errors.New("conductor: composition over its limits")

// ErrTooManyActions reports a run that invoked more than Config.MaxActions
// actions.
var ErrTooManyActions = errors.New("conductor: too many actions in the composition")

// ErrBadParams reports run input or an action result that is not a JSON
// object, or a value that cannot be handed to an inline function.
var ErrBadParams = errors.New("conductor: not a JSON object")

// ErrBranch reports a parallel, map or async branch that ended with an
// internal error: composer's conductor never joins such a branch, and the
// parent run waits until its deadline.
var ErrBranch = errors.New("conductor: a branch failed internally")

// ErrBadState reports a State (composer's $composer state) that is not
// one this machine could have written.
var ErrBadState = errors.New("conductor: invalid run state")
