// Package archive handles the code payload of the ActionLoop proxy's /init:
// it tells a zip, a tar.gz and a plain executable or source apart by their
// leading bytes, exactly as the stock proxy does, unpacks the payload into
// the action's src directory, and zips a built bin directory for the
// proxy's -compile mode.
//
// It fixes the stock proxy's archive defects while keeping its behaviour on
// well-formed input: no entry can be written outside the action directory
// (absolute names, "..", writing through a symlink), symlinks that point
// outside it are refused unless allowed, extraction errors are returned
// rather than logged, corrupt archives give an error instead of a panic,
// tar.gz payloads keep symlinks and may omit parent directories, and size
// and entry-count limits stop archive bombs.
//
// # Usage
//
// Call Extract with the decoded payload and a new (or empty) directory;
// Options carries OW_SAVE_JAR and the limits, and its zero value is ready to
// use. Then IsExecutable on dir/exec tells whether the action runs as is or
// needs the runtime's compiler. Errors name the entry at fault and match the
// sentinels in errors.go under errors.Is; an *EntryError carries the entry's
// name. On error Extract leaves dir empty.
//
// WriteZip (or ZipDir) archives a directory tree so that Extract recreates
// it: modes and symlinks survive the round trip.
//
// Nothing here is safe for concurrent use on the same directory; separate
// directories may be handled concurrently.
package archive
