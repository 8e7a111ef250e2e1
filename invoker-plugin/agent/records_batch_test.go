package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/activationdb"
	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

var (
	_ ActivationStore   = (*activationdb.Store)(nil)
	_ BatchStore        = (*activationdb.Store)(nil)
	_ PartialWriteError = (*activationdb.BatchError)(nil)
)

// fakeBatches is a BatchStore. It refuses the records whose ids are in
// refuse (a PartialWriteError naming them), or, with fail, every record
// of every call. With hold set, each call says so on entered and waits
// for release, until stopped is closed; it notes whether its ctx ended.
type fakeBatches struct {
	refuse  map[string]bool
	fail    error
	hold    bool
	entered chan struct{}
	release chan struct{}
	stopped chan struct{}

	mu      sync.Mutex
	calls   [][]string // each call's record ids
	written []whisk.Activation
	singles int // PutActivation calls
	ctxErrs []error
}

func newFakeBatches() *fakeBatches {
	return &fakeBatches{entered: make(chan struct{}), release: make(chan struct{}), stopped: make(chan struct{})}
}

// waitCall waits for a held call to start.
func (f *fakeBatches) waitCall(t *testing.T) {
	t.Helper()
	select {
	case <-f.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no call of the store")
	}
}

// endCall lets a held call end.
func (f *fakeBatches) endCall(t *testing.T) {
	t.Helper()
	select {
	case f.release <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Fatal("no call of the store is held")
	}
}

// startWriter runs w until the returned stop is called, which returns
// run's error; stop is also called when the test ends, after f, when
// set, stops holding calls.
func startWriter(t *testing.T, w *recordWriter, f *fakeBatches) (cancel context.CancelFunc, wait func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.run(ctx) }()
	wait = sync.OnceValue(func() error { return <-done })
	t.Cleanup(func() {
		if f != nil {
			close(f.stopped)
		}
		cancel()
		wait()
	})
	return cancel, wait
}

func (f *fakeBatches) PutActivation(ctx context.Context, a whisk.Activation) error {
	f.mu.Lock()
	f.singles++
	f.mu.Unlock()
	return f.PutActivations(ctx, []whisk.Activation{a})
}

func (f *fakeBatches) PutActivations(ctx context.Context, recs []whisk.Activation) error {
	if f.hold {
		select {
		case f.entered <- struct{}{}:
			select {
			case <-f.release:
			case <-f.stopped:
			}
		case <-f.stopped:
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctxErrs = append(f.ctxErrs, ctx.Err())
	ids := make([]string, len(recs))
	var failed []int
	for i, a := range recs {
		ids[i] = a.ActivationID
		if f.refuse[a.ActivationID] {
			failed = append(failed, i)
			continue
		}
		if f.fail == nil {
			f.written = append(f.written, a)
		}
	}
	f.calls = append(f.calls, ids)
	switch {
	case f.fail != nil:
		return f.fail
	case failed != nil:
		return fmt.Errorf("fake: %w", partialError(failed))
	}
	return nil
}

// snapshot returns the calls' ids and the records written so far.
func (f *fakeBatches) snapshot() ([][]string, []whisk.Activation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls), slices.Clone(f.written)
}

// partialError is a PartialWriteError of the indexes it holds.
type partialError []int

func (e partialError) Error() string        { return fmt.Sprintf("records %v not written", []int(e)) }
func (e partialError) FailedRecords() []int { return e }

// batchRecord returns a record of id i.
func batchRecord(i int) whisk.Activation {
	return whisk.Activation{Namespace: "guest", Name: "step", Subject: "guest", ActivationID: fmt.Sprintf("%032x", i), Version: "0.0.1"}
}

// sizes returns the lengths of calls.
func sizes(calls [][]string) []int {
	n := make([]int, len(calls))
	for i, c := range calls {
		n[i] = len(c)
	}
	return n
}

// inOrder reports whether the records written are 0, 1, ..., n-1 but
// those in skip.
func inOrder(written []whisk.Activation, n int, skip ...int) bool {
	var want []string
	for i := range n {
		if !slices.Contains(skip, i) {
			want = append(want, fmt.Sprintf("%032x", i))
		}
	}
	got := make([]string, len(written))
	for i, a := range written {
		got[i] = a.ActivationID
	}
	return slices.Equal(got, want)
}

// TestRecordWriterBatchCounts: a BatchStore gets what is queued in one
// call (recordBatch at most), and the counters count records, not calls.
func TestRecordWriterBatchCounts(t *testing.T) {
	ids := func(is ...int) map[string]bool {
		m := map[string]bool{}
		for _, i := range is {
			m[fmt.Sprintf("%032x", i)] = true
		}
		return m
	}
	tests := []struct {
		name                string
		n                   int
		store               func() *fakeBatches
		wantSizes           []int
		written, failed     uint64
		wantSkip            []int // records not written
		wantLogged, wantNot string
	}{
		{"all written", 8, newFakeBatches, []int{8}, 8, 0, nil, "", "failed"},
		{"the queue in batches of recordBatch", recordQueue, newFakeBatches,
			[]int{recordBatch, recordBatch, recordQueue - 2*recordBatch}, recordQueue, 0, nil, "", "failed"},
		{"some refused", 8, func() *fakeBatches { f := newFakeBatches(); f.refuse = ids(2, 5); return f },
			[]int{8}, 6, 2, []int{2, 5}, "records=2", ""},
		{"all failed", 8, func() *fakeBatches { f := newFakeBatches(); f.fail = errors.New("database down"); return f },
			[]int{8}, 0, 8, []int{0, 1, 2, 3, 4, 5, 6, 7}, "database down", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			st := tt.store()
			w := newRecordWriter(st, slog.New(slog.NewTextHandler(&logs, nil)))
			for i := range tt.n {
				w.add(queuedRecord{rec: batchRecord(i)})
			}
			// Queued before the writer starts: it takes them as they
			// are, without waiting, then stops.
			stop, wait := startWriter(t, w, st)
			deadline := time.Now().Add(10 * time.Second)
			for w.written.Load()+w.failed.Load() < uint64(tt.n) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			stop()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			calls, written := st.snapshot()
			if got := sizes(calls); !slices.Equal(got, tt.wantSizes) {
				t.Errorf("calls of %v records, want %v", got, tt.wantSizes)
			}
			if n := w.counts(); n.Written != tt.written || n.Failed != tt.failed || n.Dropped != 0 {
				t.Errorf("counts %+v, want %d written, %d failed", n, tt.written, tt.failed)
			}
			if !inOrder(written, tt.n, tt.wantSkip...) {
				t.Errorf("%d records written, want 0..%d in order but %v", len(written), tt.n-1, tt.wantSkip)
			}
			if st.singles != 0 {
				t.Errorf("%d PutActivation calls to a BatchStore", st.singles)
			}
			if tt.wantLogged != "" && !strings.Contains(logs.String(), tt.wantLogged) {
				t.Errorf("log %q does not contain %q", logs.String(), tt.wantLogged)
			}
			if tt.wantNot != "" && strings.Contains(logs.String(), tt.wantNot) {
				t.Errorf("log %q contains %q", logs.String(), tt.wantNot)
			}
		})
	}
}

// TestRecordWriterBatchesForm: under a slow store, the first record is
// written at once, alone (with PutActivation), and the records that
// arrive during a write form the next batch; those queued when the agent
// stops, even during a write, are written, and the write under way is
// not cut short.
func TestRecordWriterBatchesForm(t *testing.T) {
	st := newFakeBatches()
	st.hold = true
	w := newRecordWriter(st, slog.New(slog.DiscardHandler))
	stop, wait := startWriter(t, w, st)

	w.add(queuedRecord{rec: batchRecord(0)})
	st.waitCall(t) // writing [0]
	for i := 1; i <= 10; i++ {
		w.add(queuedRecord{rec: batchRecord(i)})
	}
	st.endCall(t)
	st.waitCall(t) // writing [1..10]
	for i := 11; i <= 13; i++ {
		w.add(queuedRecord{rec: batchRecord(i)})
	}
	stop() // during a write, with three records queued
	st.endCall(t)
	st.waitCall(t) // the drain: [11..13]
	st.endCall(t)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	calls, written := st.snapshot()
	if got, want := sizes(calls), []int{1, 10, 3}; !slices.Equal(got, want) {
		t.Errorf("calls of %v records, want %v", got, want)
	}
	if !inOrder(written, 14) {
		t.Errorf("written %d records, want 0..13 in order", len(written))
	}
	if n := w.counts(); n.Written != 14 || n.Failed != 0 {
		t.Errorf("counts %+v, want 14 written", n)
	}
	if st.singles != 1 {
		t.Errorf("%d PutActivation calls, want 1 (the lone first record)", st.singles)
	}
	for i, err := range st.ctxErrs {
		if err != nil {
			t.Errorf("call %d: its ctx ended (%v)", i, err)
		}
	}
}

// TestRecordWriterBadIndexes: a PartialWriteError's indexes out of range
// or repeated count once, or not at all.
func TestRecordWriterBadIndexes(t *testing.T) {
	w := newRecordWriter(batchStoreFunc(func(context.Context, []whisk.Activation) error {
		return partialError{-1, 3, 3, 99, 0}
	}), slog.New(slog.DiscardHandler))
	for i := range 5 {
		w.add(queuedRecord{rec: batchRecord(i)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.run(ctx)
	if n := w.counts(); n.Written != 3 || n.Failed != 2 {
		t.Errorf("counts %+v, want 3 written, 2 failed", n)
	}
}

// batchStoreFunc is a BatchStore of a function.
type batchStoreFunc func(context.Context, []whisk.Activation) error

func (f batchStoreFunc) PutActivation(ctx context.Context, a whisk.Activation) error {
	return f(ctx, []whisk.Activation{a})
}

func (f batchStoreFunc) PutActivations(ctx context.Context, recs []whisk.Activation) error {
	return f(ctx, recs)
}

// TestRecordWriterSingleStore: a store without batches gets one record a
// call, in order, also under a slow store and when draining.
func TestRecordWriterSingleStore(t *testing.T) {
	var mu sync.Mutex
	var got []string
	// The channels of a fakeBatches, to hold each call.
	entered, release, stopped := make(chan struct{}), make(chan struct{}), make(chan struct{})
	st := storeFunc(func(ctx context.Context, a whisk.Activation) error {
		select {
		case entered <- struct{}{}:
			select {
			case <-release:
			case <-stopped:
			}
		case <-stopped:
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, a.ActivationID)
		if a.ActivationID == fmt.Sprintf("%032x", 2) {
			return errors.New("refused")
		}
		return nil
	})
	w := newRecordWriter(st, slog.New(slog.DiscardHandler))
	if w.batches != nil || w.maxBatch() != 1 {
		t.Fatal("a store without PutActivations is used as a BatchStore")
	}
	f := &fakeBatches{entered: entered, release: release, stopped: stopped}
	stop, wait := startWriter(t, w, f)
	w.add(queuedRecord{rec: batchRecord(0)})
	f.waitCall(t)
	for i := 1; i < 5; i++ {
		w.add(queuedRecord{rec: batchRecord(i)})
	}
	stop() // during the write of [0], with four records queued
	f.endCall(t)
	for range 4 {
		f.waitCall(t)
		f.endCall(t)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{}
	for i := range 5 {
		want = append(want, fmt.Sprintf("%032x", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("written %v, want %v", got, want)
	}
	if n := w.counts(); n.Written != 4 || n.Failed != 1 {
		t.Errorf("counts %+v, want 4 written, 1 failed", n)
	}
}

// storeFunc is an ActivationStore of a function.
type storeFunc func(context.Context, whisk.Activation) error

func (f storeFunc) PutActivation(ctx context.Context, a whisk.Activation) error { return f(ctx, a) }

// catalogBatches is a BatchStore that is also a catalog.
type catalogBatches struct {
	*fakeBatches
	*fakeCatalog
}

// TestRecordWriterBatchLooksUp: the records of a batch get their
// actions' kind and limits, one lookup per action version, before the
// batch is written.
func TestRecordWriterBatchLooksUp(t *testing.T) {
	py := actionInfo{known: true, kind: "python:3", limits: whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}}
	cat := &fakeCatalog{}
	cat.set("/guest/py", py)
	st := newFakeBatches()
	w := newRecordWriter(catalogBatches{st, cat}, slog.New(slog.DiscardHandler))
	actions := []string{"/guest/py", "/guest/gone", "/guest/py", "/guest/py"}
	for i, action := range actions {
		inst := routetable.Instance{Namespace: "guest", Action: action, Version: "0.0.1"}
		k := instanceAction(inst)
		w.add(queuedRecord{rec: stepActivation(inst, &agentproto.Activation{ActivationID: fmt.Sprintf("%032x", i), Start: 1, End: 2}), lookup: &k})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.run(ctx)
	calls, written := st.snapshot()
	if got := sizes(calls); !slices.Equal(got, []int{4}) {
		t.Errorf("calls of %v records, want one of 4", got)
	}
	if cat.count("/guest/py") != 1 || cat.count("/guest/gone") != 1 {
		t.Errorf("lookups %v, want one per action version", cat.lookups)
	}
	for i, a := range written {
		_, hasKind := a.Annotations.Get(whisk.AnnKind)
		if want := actions[i] == "/guest/py"; hasKind != want {
			t.Errorf("record %d (%s): kind %v, want %v", i, actions[i], hasKind, want)
		}
	}
}

// TestRecordWriterActivationDB: the writer over internal/activationdb's
// Store and a CouchDB answering _bulk_docs: one request for the records
// queued, refused documents counted failed, conflicts written.
func TestRecordWriterActivationDB(t *testing.T) {
	var mu sync.Mutex
	var posts []int // documents per request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/acts/_bulk_docs" {
			http.Error(w, `{"error":"not_found"}`, http.StatusNotFound)
			return
		}
		var req struct {
			Docs []struct {
				ID   string `json:"_id"`
				Name string `json:"name"`
			} `json:"docs"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &req); err != nil {
			http.Error(w, `{"error":"bad_request"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		posts = append(posts, len(req.Docs))
		mu.Unlock()
		out := make([]map[string]string, len(req.Docs))
		for i, d := range req.Docs {
			switch d.Name {
			case "conflict":
				out[i] = map[string]string{"id": d.ID, "error": "conflict", "reason": "Document update conflict."}
			case "forbidden":
				out[i] = map[string]string{"id": d.ID, "error": "forbidden", "reason": "no"}
			default:
				out[i] = map[string]string{"id": d.ID, "rev": "1-a"}
			}
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	st, err := activationdb.New(activationdb.Config{URL: srv.URL, Database: "acts"})
	if err != nil {
		t.Fatal(err)
	}
	w := newRecordWriter(st, slog.New(slog.DiscardHandler))
	if w.batches == nil {
		t.Fatal("activationdb's Store is not used as a BatchStore")
	}
	names := []string{"ok", "forbidden", "conflict", "ok", "forbidden", "ok"}
	for i, name := range names {
		a := batchRecord(i)
		a.Name = name
		w.add(queuedRecord{rec: a})
	}
	invalid := batchRecord(len(names))
	invalid.Subject = "x" // NewDocument refuses it
	w.add(queuedRecord{rec: invalid})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.run(ctx)
	if n := w.counts(); n.Written != 4 || n.Failed != 3 {
		t.Errorf("counts %+v, want 4 written (3 stored, 1 conflict), 3 failed (2 refused, 1 invalid)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(posts, []int{6}) {
		t.Errorf("requests of %v documents, want one of the 6 valid records", posts)
	}
}
