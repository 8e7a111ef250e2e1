package child

import "errors"

// The texts of ErrExited, ErrExitedDuringInit and ErrNotInitialized are the
// ones the stock proxy returns; the invoker shows them to users, so they must
// not change.
var (
	// ErrExited reports that the executable could not be started or exited
	// during an activation.
	ErrExited = errors.New("command exited")

	// ErrExitedDuringInit reports that, with acks enabled, the executable
	// exited before acknowledging its start.
	ErrExitedDuringInit = errors.New("Command exited abruptly during initialization.")

	// ErrNotInitialized reports an ack whose "ok" field was not true.
	ErrNotInitialized = errors.New("The action did not initialize properly.")

	// ErrAckTimeout reports that the executable neither acknowledged its
	// start nor exited within the configured bound.
	ErrAckTimeout = errors.New("The action did not acknowledge its start in time.")

	// ErrNotRunning reports a call on a process that had already exited
	// before anything was sent to it.
	ErrNotRunning = errors.New("child: process is not running")

	// ErrResultTooLarge reports a result line longer than Config.MaxResult.
	ErrResultTooLarge = errors.New("child: result exceeds the maximum size")

	// ErrPoolClosed reports a call on a Pool that was closed or broken.
	ErrPoolClosed = errors.New("child: pool is closed")
)
