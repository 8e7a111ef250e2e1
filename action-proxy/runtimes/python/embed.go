package python

import "embed"

// Files holds the runtime's two files, compile and launcher.py, at the top
// of the file system, for programs that install the runtime themselves (the
// sandbox writes them to a directory of its own). Written out, compile must
// be made executable and launcher.py must sit next to it.
//
//go:embed compile launcher.py
var Files embed.FS
