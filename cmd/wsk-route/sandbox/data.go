package sandbox

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/runtimes"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// data is what a sandbox (or a split sandbox's controller host) keeps in
// its data directory: the entity and activation store, and the runtimes.
type data struct {
	dir      string // absolute
	store    *store.Store
	runtimes *runtimes.Set
	// cleanup closes the store and removes a temporary directory.
	cleanup func()
}

// openData opens the data directory dir, or a temporary one (removed by
// cleanup, and by the next sandbox if this one is killed) when dir is "";
// the store in it with opts, holding ident; and the runtimes. It first
// removes the temporary directories of sandboxes that are gone.
func openData(dir string, opts store.Options, ident whisk.Identity, log *slog.Logger) (*data, error) {
	sweepTempDirs(os.TempDir(), log)
	d := &data{dir: dir, cleanup: func() {}}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "wsk-route-dev-data-")
		if err != nil {
			return nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
		d.dir, d.cleanup = tmp, func() { os.RemoveAll(tmp) }
		if err := markOwner(tmp); err != nil {
			d.cleanup()
			return nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: data directory %s: %w", dir, err)
	}
	d.dir, _ = filepath.Abs(d.dir)
	removeDir := d.cleanup
	st, err := store.OpenWith(filepath.Join(d.dir, "wsk-route.db"), opts)
	if err != nil {
		removeDir()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	d.store, d.cleanup = st, func() { st.Close(); removeDir() }
	if err := st.PutSubject(ident); err != nil {
		d.cleanup()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if d.runtimes, err = runtimes.Install(filepath.Join(d.dir, "runtimes")); err != nil {
		d.cleanup()
		return nil, fmt.Errorf("sandbox: runtimes: %w", err)
	}
	return d, nil
}
