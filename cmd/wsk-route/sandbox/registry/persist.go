package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/statefile"
)

// StateFile is the name, in Open's directory, of the file that keeps the
// registry's marker, namespace keys and specs.
const StateFile = "registry.json"

// LegacyKeyFile is the name, in Open's directory, of the key file of
// sandboxes before StateFile: its keys are taken over when there is no
// StateFile yet.
const LegacyKeyFile = "namespace-keys.json"

// maxStateFile bounds the state file read by Open.
const maxStateFile = 256 << 20

// state is what the registry keeps across restarts. A state is never
// edited once the registry holds it: update clones it, changes the clone,
// and swaps it in.
type state struct {
	marker string                // the cluster marker; "": none yet
	index  uint64                // the last spec version handed out
	keys   map[string][]byte     // by namespace
	specs  map[string]storedSpec // by spec.Spec.Key(), "ns/workflow"
}

func newState() *state {
	return &state{keys: map[string][]byte{}, specs: map[string]storedSpec{}}
}

// clone returns a copy whose maps can be changed; keys and spec data are
// never changed in place, so they are shared.
func (s *state) clone() *state {
	return &state{marker: s.marker, index: s.index, keys: maps.Clone(s.keys), specs: maps.Clone(s.specs)}
}

// stateJSON is the state file.
type stateJSON struct {
	Version int               `json:"version"`
	Marker  string            `json:"marker,omitempty"`
	Index   uint64            `json:"index"`
	Keys    map[string][]byte `json:"keys"`
	Specs   []specJSON        `json:"specs"`
}

// specJSON is one spec in the state file.
type specJSON struct {
	Version uint64          `json:"version"`
	Spec    json.RawMessage `json:"spec"`
}

// Open returns a registry that keeps its marker, namespace keys and specs
// in dir/StateFile (JSON, mode 0600, replaced through a temporary file on
// each change), and reads them back: a registry opened again on the same
// directory gives the proxies the keys they had and runs the workflows
// composed before, under the versions they had. Instances and run events
// are not kept. Without a StateFile, the keys of dir/LegacyKeyFile are
// taken over. A state file that cannot be read makes Open fail (with
// ErrBadState) rather than start empty. dir must exist.
func Open(dir string, opts Options) (*Registry, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("registry: state directory %s: not a directory (%v)", dir, err)
	}
	r := New(opts)
	r.file = filepath.Join(dir, StateFile)
	st, err := readState(r.file)
	if errors.Is(err, fs.ErrNotExist) {
		st = newState()
		st.keys, err = readKeys(filepath.Join(dir, LegacyKeyFile))
	}
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r.st = st
	return r, nil
}

// readState reads and checks a state file.
func readState(path string) (*state, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var sj stateJSON
	// A file over the limit is cut, and a cut document fails to decode.
	dec := json.NewDecoder(io.LimitReader(f, maxStateFile))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sj); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBadState, path, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s (move the file away to start empty)", ErrBadState, path, fmt.Sprintf(format, args...))
	}
	if sj.Version != 1 {
		return nil, bad("version %d, want 1", sj.Version)
	}
	st := newState()
	st.index = sj.Index
	if sj.Marker != "" {
		if err := checkMarker(sj.Marker); err != nil {
			return nil, bad("%v", err)
		}
		st.marker = sj.Marker
	}
	for ns, k := range sj.Keys {
		if err := checkName("namespace", ns); err != nil || len(k) != KeySize {
			return nil, bad("namespace %q has a %d-byte key, want %d", ns, len(k), KeySize)
		}
		st.keys[ns] = k
	}
	for _, s := range sj.Specs {
		sp, err := spec.Parse(s.Spec)
		if err == nil {
			err = sp.Validate()
		}
		if err != nil {
			return nil, bad("%v", err)
		}
		key, err := specKey(sp.Namespace, sp.Workflow)
		switch {
		case err != nil:
			return nil, bad("%v", err)
		case s.Version == 0 || s.Version > st.index:
			return nil, bad("spec %s at version %d, index %d", key, s.Version, st.index)
		case st.specs[key].version != 0:
			return nil, bad("spec %s twice", key)
		}
		st.specs[key] = storedSpec{data: s.Spec, version: s.Version}
	}
	return st, nil
}

// writeState replaces the state file: a 0600 temporary file in its
// directory, synced, then renamed over it.
func writeState(path string, st *state) error {
	sj := stateJSON{Version: 1, Marker: st.marker, Index: st.index, Keys: st.keys, Specs: make([]specJSON, 0, len(st.specs))}
	for _, k := range slices.Sorted(maps.Keys(st.specs)) {
		s := st.specs[k]
		sj.Specs = append(sj.Specs, specJSON{Version: s.version, Spec: s.data})
	}
	data, err := json.Marshal(sj)
	if err != nil {
		return fmt.Errorf("encoding the state: %w", err)
	}
	return statefile.Write(path, data)
}

// update makes one change of the persisted state: change edits a copy of
// it and reports whether it changed anything; a changed copy is written
// to the state file (with Open) and then replaces the registry's state,
// waking the watchers. An error from change or from the write leaves the
// registry as it was. Changes are serialised by persistMu; r.mu is held
// only to read and to swap the state, never across the write.
func (r *Registry) update(change func(st *state) (changed bool, err error)) error {
	r.persistMu.Lock()
	defer r.persistMu.Unlock()
	r.mu.Lock()
	next := r.st.clone()
	r.mu.Unlock()
	changed, err := change(next)
	if err != nil || !changed {
		return err
	}
	if r.file != "" {
		if err := writeState(r.file, next); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.st = next
	r.broadcastLocked()
	r.mu.Unlock()
	return nil
}

// readKeys reads a legacy key file: a JSON object of namespace to base64
// key. No file is no keys.
func readKeys(path string) (map[string][]byte, error) {
	keys := map[string][]byte{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return keys, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("%w %s: %w (remove it to start with new keys)", ErrBadState, path, err)
	}
	for ns, k := range keys {
		if len(k) != KeySize || checkName("namespace", ns) != nil {
			return nil, fmt.Errorf("%w %s: namespace %q has a %d-byte key, want %d (remove the file to start with new keys)", ErrBadState, path, ns, len(k), KeySize)
		}
	}
	return keys, nil
}
