package store_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func open(t *testing.T, o store.Options) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	if o.Now == nil {
		c := &clock{t: time.UnixMilli(1_700_000_000_000)}
		o.Now = c.Now
	}
	s, err := store.OpenWith(path, o)
	if err != nil {
		t.Fatalf("OpenWith: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func code(s string) *string { return &s }

func action(path, name string) whisk.Action {
	return whisk.Action{Namespace: path, Name: name, Exec: whisk.Exec{Kind: "python:3", Code: code("def main(a): return a")}, Limits: whisk.DefaultLimits()}
}

var revRE = regexp.MustCompile(`^(\d+)-[0-9a-f]{16}$`)

func TestSubjects(t *testing.T) {
	s, _ := open(t, store.Options{})
	id := whisk.Identity{Subject: "guest", Namespace: whisk.NamespaceRef{Name: "guest", UUID: "u1"}, AuthKey: whisk.AuthKey{APIKey: "u1:secret"}}
	if err := s.PutSubject(id); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSubject(whisk.Identity{Subject: "x", AuthKey: whisk.AuthKey{APIKey: "nocolon"}}); err == nil {
		t.Error("PutSubject accepted a key without uuid:")
	}
	tests := []struct {
		uuid, key string
		ok        bool
	}{
		{"u1", "secret", true},
		{"u1", "secreT", false},
		{"u1", "", false},
		{"u2", "secret", false},
	}
	for _, tc := range tests {
		got, err := s.Authenticate(tc.uuid, tc.key)
		if tc.ok {
			if err != nil || got.Subject != "guest" || got.Namespace.Name != "guest" {
				t.Errorf("Authenticate(%s,%s) = %+v, %v", tc.uuid, tc.key, got, err)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Authenticate(%s,%s) err = %v, want ErrNotFound", tc.uuid, tc.key, err)
		}
	}
}

func TestActionCRUD(t *testing.T) {
	s, _ := open(t, store.Options{})
	if _, err := s.PutPackage(whisk.Package{Namespace: "guest", Name: "pkg"}, false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		overwrite bool
		wantErr   error
		wantVer   string
		wantRevN  string
	}{
		{"create", "guest", false, nil, "0.0.1", "1"},
		{"create again without overwrite", "guest", false, store.ErrExists, "", ""},
		{"overwrite bumps version", "guest", true, nil, "0.0.2", "2"},
		{"overwrite again", "guest", true, nil, "0.0.3", "3"},
		{"create in package", "guest/pkg", false, nil, "0.0.1", "1"},
		{"missing package", "guest/nopkg", true, store.ErrNotFound, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rev, err := s.PutAction(action(tc.path, "hello"), tc.overwrite)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := revRE.FindStringSubmatch(rev)
			if m == nil || m[1] != tc.wantRevN {
				t.Errorf("rev = %q, want %s-<16 hex>", rev, tc.wantRevN)
			}
			if got.Version != tc.wantVer || got.Updated == 0 {
				t.Errorf("version %q updated %d, want %s and non-zero", got.Version, got.Updated, tc.wantVer)
			}
			back, rev2, err := s.GetAction(tc.path, "hello")
			if err != nil || rev2 != rev || back.Version != tc.wantVer || back.Exec.Code == nil || *back.Exec.Code != *got.Exec.Code {
				t.Errorf("GetAction = %+v %q %v", back, rev2, err)
			}
		})
	}
	if _, _, err := s.GetAction("guest", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAction missing: %v", err)
	}
	del, err := s.DeleteAction("guest", "hello")
	if err != nil || del.Name != "hello" || del.Version != "0.0.3" {
		t.Errorf("DeleteAction = %+v, %v", del, err)
	}
	if _, err := s.DeleteAction("guest", "hello"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteAction: %v", err)
	}
	if _, _, err := s.GetAction("guest", "hello"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAction after delete: %v", err)
	}
	// The package's action is untouched.
	if _, _, err := s.GetAction("guest/pkg", "hello"); err != nil {
		t.Errorf("package action: %v", err)
	}
}

func TestListActions(t *testing.T) {
	s, _ := open(t, store.Options{})
	if _, err := s.PutPackage(whisk.Package{Namespace: "guest", Name: "pkg"}, false); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, _, err := s.PutAction(action("guest", fmt.Sprintf("a%d", i)), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.PutAction(action("guest/pkg", "inpkg"), false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutAction(action("other", "foreign"), false); err != nil {
		t.Fatal(err)
	}
	// Updating a1 makes it the newest.
	if _, _, err := s.PutAction(action("guest", "a1"), true); err != nil {
		t.Fatal(err)
	}
	names := func(as []whisk.Action) string {
		var n []string
		for _, a := range as {
			n = append(n, a.Name)
		}
		return strings.Join(n, ",")
	}
	tests := []struct {
		path        string
		limit, skip int
		want        string
	}{
		{"guest", 0, 0, "a1,a4,a3,a2,a0"},
		{"guest", 2, 0, "a1,a4"},
		{"guest", 2, 2, "a3,a2"},
		{"guest", 10, 4, "a0"},
		{"guest", 0, 9, ""},
		{"guest", -1, 1, "a4,a3,a2,a0"},
		{"guest/pkg", 0, 0, "inpkg"},
		{"other", 0, 0, "foreign"},
		{"nobody", 0, 0, ""},
	}
	for _, tc := range tests {
		got, err := s.ListActions(tc.path, tc.limit, tc.skip)
		if err != nil {
			t.Fatal(err)
		}
		if names(got) != tc.want {
			t.Errorf("ListActions(%s, %d, %d) = %s, want %s", tc.path, tc.limit, tc.skip, names(got), tc.want)
		}
	}
}

func TestListActionsDefaultLimit(t *testing.T) {
	s, _ := open(t, store.Options{})
	for i := range store.DefaultListLimit + 3 {
		if _, _, err := s.PutAction(action("guest", fmt.Sprintf("a%02d", i)), false); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListActions("guest", 0, 0)
	if err != nil || len(got) != store.DefaultListLimit {
		t.Errorf("len = %d (%v), want %d", len(got), err, store.DefaultListLimit)
	}
}

func TestPackages(t *testing.T) {
	s, _ := open(t, store.Options{})
	p, err := s.PutPackage(whisk.Package{Namespace: "guest", Name: "pkg", Parameters: whisk.KeyValues{}.Set("a", 1)}, false)
	if err != nil || p.Version != "0.0.1" || string(p.Binding) != "{}" {
		t.Fatalf("PutPackage = %+v, %v", p, err)
	}
	if _, err := s.PutPackage(whisk.Package{Namespace: "guest", Name: "pkg"}, false); !errors.Is(err, store.ErrExists) {
		t.Errorf("PutPackage again: %v, want ErrExists", err)
	}
	p, err = s.PutPackage(whisk.Package{Namespace: "guest", Name: "pkg", Actions: []whisk.EntityRef{{Name: "x"}}}, true)
	if err != nil || p.Version != "0.0.2" || p.Actions != nil {
		t.Errorf("overwrite = %+v, %v", p, err)
	}
	if _, err := s.PutPackage(whisk.Package{Namespace: "guest/x", Name: "pkg"}, true); err == nil {
		t.Error("PutPackage accepted a nested namespace")
	}
	if _, err := s.PutPackage(whisk.Package{Namespace: "guest", Name: "second"}, false); err != nil {
		t.Fatal(err)
	}
	ps, err := s.ListPackages("guest", 0, 0)
	if err != nil || len(ps) != 2 || ps[0].Name != "second" || ps[1].Name != "pkg" {
		t.Errorf("ListPackages = %+v, %v", ps, err)
	}
	ps, err = s.ListPackages("guest", 1, 1)
	if err != nil || len(ps) != 1 || ps[0].Name != "pkg" {
		t.Errorf("ListPackages(1,1) = %+v, %v", ps, err)
	}
	for _, n := range []string{"a", "b"} {
		if _, _, err := s.PutAction(action("guest/pkg", n), false); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.DeletePackage("guest", "pkg")
	var ne *store.NotEmptyError
	if !errors.Is(err, store.ErrNotEmpty) || !errors.As(err, &ne) || ne.Entities != 2 {
		t.Fatalf("DeletePackage non-empty: %v", err)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := s.DeleteAction("guest/pkg", n); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.DeletePackage("guest", "pkg")
	if err != nil || got.Name != "pkg" {
		t.Errorf("DeletePackage = %+v, %v", got, err)
	}
	if _, err := s.GetPackage("guest", "pkg"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPackage after delete: %v", err)
	}
	if _, err := s.DeletePackage("guest", "pkg"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeletePackage missing: %v", err)
	}
}

func activation(ns, id, name string, start int64) whisk.Activation {
	return whisk.Activation{
		Namespace: ns, Name: name, Subject: ns, ActivationID: id, Start: start, End: start + 5,
		Response:    whisk.Result{StatusCode: 0, Result: json.RawMessage(`{"ok":true}`)},
		Logs:        []string{"line"},
		Annotations: whisk.KeyValues{}.Set(whisk.AnnPath, ns+"/"+name),
	}
}

func ids(as []whisk.Activation) string {
	var n []string
	for _, a := range as {
		n = append(n, a.ActivationID)
	}
	return strings.Join(n, ",")
}

func TestActivations(t *testing.T) {
	s, _ := open(t, store.Options{})
	puts := []whisk.Activation{
		activation("guest", "a1", "hello", 1000),
		activation("guest", "a2", "bye", 2000),
		activation("guest", "a3", "hello", 3000),
		activation("guest", "a4", "hello", 4000),
		activation("guest2", "b1", "hello", 2500),
		activation("gues", "c1", "hello", 9000),
	}
	pk := activation("guest", "a5", "hello", 5000)
	pk.Annotations = whisk.KeyValues{}.Set(whisk.AnnPath, "guest/pkg/hello")
	puts = append(puts, pk)
	for _, a := range puts {
		if err := s.PutActivation(a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetActivation("guest", "a2")
	if err != nil || got.Name != "bye" || string(got.Response.Result) != `{"ok":true}` {
		t.Errorf("GetActivation = %+v, %v", got, err)
	}
	if _, err := s.GetActivation("guest2", "a2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetActivation in another namespace: %v", err)
	}
	tests := []struct {
		name string
		f    store.ActivationFilter
		want string
	}{
		{"all newest first", store.ActivationFilter{}, "a5,a4,a3,a2,a1"},
		{"limit", store.ActivationFilter{Limit: 2}, "a5,a4"},
		{"skip", store.ActivationFilter{Limit: 2, Skip: 3}, "a2,a1"},
		{"skip past end", store.ActivationFilter{Skip: 10}, ""},
		{"name", store.ActivationFilter{Name: "hello"}, "a5,a4,a3,a1"},
		{"pkg/name", store.ActivationFilter{Name: "pkg/hello"}, "a5"},
		{"name other", store.ActivationFilter{Name: "bye"}, "a2"},
		{"since", store.ActivationFilter{Since: 3000}, "a5,a4,a3"},
		{"upto", store.ActivationFilter{Upto: 2000}, "a2,a1"},
		{"since and upto", store.ActivationFilter{Since: 2000, Upto: 4000}, "a4,a3,a2"},
		{"name since limit", store.ActivationFilter{Name: "hello", Since: 1000, Limit: 3, Skip: 1}, "a4,a3,a1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListActivations("guest", tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tc.want {
				t.Errorf("ListActivations = %s, want %s", ids(got), tc.want)
			}
			n, err := s.CountActivations("guest", tc.f)
			if err != nil {
				t.Fatal(err)
			}
			f := tc.f
			f.Limit, f.Skip = -1, 0
			all, _ := s.ListActivations("guest", f)
			if n != len(all) {
				t.Errorf("CountActivations = %d, want %d", n, len(all))
			}
		})
	}
	// Replacing a record with a new start time moves it in the index.
	moved := activation("guest", "a1", "hello", 6000)
	if err := s.PutActivation(moved); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListActivations("guest", store.ActivationFilter{})
	if err != nil || ids(all) != "a1,a5,a4,a3,a2" {
		t.Errorf("after replace: %s, %v", ids(all), err)
	}
	if err := s.PutActivation(whisk.Activation{Namespace: "guest"}); err == nil {
		t.Error("PutActivation accepted an empty id")
	}
}

// PutActivations writes a batch in one transaction: every record, found
// and counted as PutActivation's would be, replacing what it replaces and
// trimming as it trims; a batch with a record it refuses writes none.
func TestPutActivations(t *testing.T) {
	s, _ := open(t, store.Options{MaxActivations: 4})
	if err := s.PutActivation(activation("guest", "a0", "x", 1000)); err != nil {
		t.Fatal(err)
	}
	batch := []whisk.Activation{
		activation("guest", "a1", "x", 1001),
		activation("guest", "a0", "x", 1005), // replaces a0, moved
		activation("other", "o1", "x", 1002),
		activation("guest", "a2", "x", 1003),
		activation("guest", "a3", "x", 1004),
		activation("guest", "a4", "x", 1006), // a fifth: the oldest, a1, goes
	}
	if err := s.PutActivations(batch); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListActivations("guest", store.ActivationFilter{Limit: -1})
	if err != nil || ids(got) != "a4,a0,a3,a2" {
		t.Errorf("guest keeps %s, %v; want a4,a0,a3,a2", ids(got), err)
	}
	if n, _ := s.CountActivations("other", store.ActivationFilter{}); n != 1 {
		t.Errorf("other namespace count = %d, want 1", n)
	}
	bad := []whisk.Activation{activation("guest", "b1", "x", 2000), {Namespace: "guest"}}
	if err := s.PutActivations(bad); err == nil || !strings.Contains(err.Error(), "empty namespace or id") {
		t.Errorf("PutActivations with an empty id: %v, want it refused", err)
	}
	if _, err := s.GetActivation("guest", "b1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused batch's first record: %v, want it not written", err)
	}
}

func TestActivationRetention(t *testing.T) {
	s, _ := open(t, store.Options{MaxActivations: 3})
	for i := range 6 {
		if err := s.PutActivation(activation("guest", fmt.Sprintf("a%d", i), "x", int64(1000+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutActivation(activation("other", "o1", "x", 1)); err != nil {
		t.Fatal(err)
	}
	// Replacing a kept record does not drop another.
	if err := s.PutActivation(activation("guest", "a5", "x", 1005)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListActivations("guest", store.ActivationFilter{Limit: -1})
	if err != nil || ids(got) != "a5,a4,a3" {
		t.Errorf("kept %s, %v; want a5,a4,a3", ids(got), err)
	}
	if _, err := s.GetActivation("guest", "a0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("oldest still there: %v", err)
	}
	if n, _ := s.CountActivations("other", store.ActivationFilter{}); n != 1 {
		t.Errorf("other namespace count = %d, want 1", n)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rev, err := s.PutAction(action("guest", "hello"), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutActivation(activation("guest", "a1", "hello", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSubject(whisk.Identity{Subject: "guest", AuthKey: whisk.AuthKey{APIKey: "u:k"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, rev2, err := s.GetAction("guest", "hello"); err != nil || rev2 != rev {
		t.Errorf("after reopen: rev %q, %v; want %q", rev2, err, rev)
	}
	if _, err := s.GetActivation("guest", "a1"); err != nil {
		t.Errorf("activation after reopen: %v", err)
	}
	if _, err := s.Authenticate("u", "k"); err != nil {
		t.Errorf("subject after reopen: %v", err)
	}
	_, rev3, err := s.PutAction(action("guest", "hello"), true)
	if err != nil || !strings.HasPrefix(rev3, "2-") {
		t.Errorf("update after reopen: rev %q, %v", rev3, err)
	}
}

func TestSecondOpenFails(t *testing.T) {
	s, path := open(t, store.Options{})
	_ = s
	_, err := store.OpenWith(path, store.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open succeeded")
	}
	if !strings.Contains(err.Error(), "another `wsk-route dev` uses that data dir") {
		t.Errorf("error %q does not say the data dir is in use", err)
	}
}

func TestConcurrentPuts(t *testing.T) {
	s, _ := open(t, store.Options{})
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*2)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.PutActivation(activation("guest", fmt.Sprintf("w%d-%d", w, i), "x", int64(w*1000+i))); err != nil {
					errs <- err
				}
				if _, _, err := s.PutAction(action("guest", "shared"), true); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := s.CountActivations("guest", store.ActivationFilter{}); err != nil || n != workers*each {
		t.Errorf("count = %d, %v; want %d", n, err, workers*each)
	}
	a, rev, err := s.GetAction("guest", "shared")
	if err != nil || a.Version != fmt.Sprintf("0.0.%d", workers*each) || !strings.HasPrefix(rev, fmt.Sprintf("%d-", workers*each)) {
		t.Errorf("shared action version %q rev %q, %v", a.Version, rev, err)
	}
}

// TestActionCache checks the decoded-action cache: a read after an update
// or a delete sees the change, and a caller changing what it got does not
// change what the next caller gets.
func TestActionCache(t *testing.T) {
	s, _ := open(t, store.Options{})
	a := action("guest", "cached")
	a.Parameters = whisk.KeyValues{{Key: "p", Value: json.RawMessage(`1`)}}
	if _, _, err := s.PutAction(a, false); err != nil {
		t.Fatal(err)
	}
	got, rev1, err := s.GetAction("guest", "cached") // fills the cache
	if err != nil {
		t.Fatal(err)
	}
	got.Parameters[0].Value = json.RawMessage(`"changed by a caller"`)
	got.Exec.Kind = "changed"
	again, _, _ := s.GetAction("guest", "cached")
	if string(again.Parameters[0].Value) != "1" || again.Exec.Kind != "python:3" {
		t.Errorf("a caller's change reached the cache: %+v", again)
	}
	a.Exec.Code = code("def main(a): return {'v': 2}")
	if _, _, err := s.PutAction(a, true); err != nil {
		t.Fatal(err)
	}
	updated, rev2, _ := s.GetAction("guest", "cached")
	if rev2 == rev1 || *updated.Exec.Code != *a.Exec.Code || updated.Version != "0.0.2" {
		t.Errorf("after an update: rev %s (was %s), version %s, code %q: the cache kept the old action", rev2, rev1, updated.Version, *updated.Exec.Code)
	}
	if _, err := s.DeleteAction("guest", "cached"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GetAction("guest", "cached"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get after delete: %v, want ErrNotFound (the cache kept a deleted action)", err)
	}
}

// sized returns an activation of ns whose stored JSON is about n bytes
// long (its result holds the padding), and the bytes it counts against
// the byte budget: its key ("ns" NUL id) and its JSON.
func sized(t *testing.T, ns, id string, start int64, n int) (whisk.Activation, int64) {
	t.Helper()
	a := activation(ns, id, "x", start)
	a.Response.Result = json.RawMessage(`{"pad":"` + strings.Repeat("p", max(n-300, 0)) + `"}`)
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return a, int64(len(ns) + 1 + len(id) + len(raw))
}

// usage returns s's Usage.
func usage(t *testing.T, s *store.Store) store.Usage {
	t.Helper()
	u, err := s.Usage()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestActivationByteBudget puts records of known sizes and checks, by
// counting their bytes, that the store keeps the newest ones that fit in
// MaxActivationBytes, in all namespaces together, and drops the others
// oldest first.
func TestActivationByteBudget(t *testing.T) {
	const budget = 64 << 10
	s, _ := open(t, store.Options{MaxActivationBytes: budget})
	type put struct {
		ns, id string
		size   int64
	}
	var puts []put
	// Small records (in a leaf) and big ones (a bucket of their own), in
	// two namespaces.
	lens := []int{3000, 20000, 500, 9000, 30000, 1200, 15000, 700, 25000, 4500, 12000, 6000, 18000, 900}
	for i, n := range lens {
		ns := []string{"guest", "other"}[i%2]
		id := fmt.Sprintf("a%02d", i)
		a, size := sized(t, ns, id, int64(1000+i), n)
		if err := s.PutActivation(a); err != nil {
			t.Fatal(err)
		}
		puts = append(puts, put{ns, id, size})

		// Want: the newest records whose sizes add up to at most the
		// budget.
		var want []put
		var total int64
		for j := len(puts) - 1; j >= 0 && total+puts[j].size <= budget; j-- {
			total += puts[j].size
			want = append(want, puts[j])
		}
		u := usage(t, s)
		if u.ActivationBytes != total || u.Activations != int64(len(want)) {
			t.Fatalf("after %s (%d bytes): %d records, %d bytes; want %d, %d", id, size, u.Activations, u.ActivationBytes, len(want), total)
		}
		for _, ns := range []string{"guest", "other"} {
			var kept []string
			for _, p := range want {
				if p.ns == ns {
					kept = append(kept, p.id)
				}
			}
			got, err := s.ListActivations(ns, store.ActivationFilter{Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != strings.Join(kept, ",") {
				t.Fatalf("after %s: %s keeps %s, want %s", id, ns, ids(got), strings.Join(kept, ","))
			}
			if n, err := s.CountActivations(ns, store.ActivationFilter{}); err != nil || n != len(kept) {
				t.Fatalf("after %s: CountActivations(%s) = %d, %v; want %d", id, ns, n, err, len(kept))
			}
		}
	}
}

// wchar returns the bytes this process has passed to write calls
// (/proc/self/io), and false where it cannot be read.
func wchar(t *testing.T) (int64, bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// TestActivationFileStopsGrowing puts records of mixed sizes (small ones
// in leaves, big ones in buckets of their own) until 20 times the byte
// budget went through the store, and checks by counting bytes that the
// file stopped growing once the budget was reached: bbolt reuses the pages
// of the records dropped, and the mix of sizes does not fragment the file
// much.
func TestActivationFileStopsGrowing(t *testing.T) {
	const budget = 2 << 20
	s, path := open(t, store.Options{MaxActivationBytes: budget})
	r := rand.New(rand.NewPCG(7, 11)) // the same puts every run
	var put int64
	i := 0
	putUntil := func(total int64) {
		for put < total {
			n := 200 + r.IntN(128<<10)
			if r.IntN(4) == 0 {
				n = 200 + r.IntN(3000)
			}
			a, size := sized(t, "guest", fmt.Sprintf("r%05d", i), int64(1000+i), n)
			if err := s.PutActivation(a); err != nil {
				t.Fatal(err)
			}
			put += size
			i++
		}
	}
	fileSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	putUntil(4 * budget)
	full, fullFile := usage(t, s), fileSize()
	putUntil(20 * budget)
	end, endFile := usage(t, s), fileSize()
	t.Logf("%d records, %d bytes put; %d kept (%d bytes); file %d bytes, %d used, %d free (at 4x the budget: %d, %d used, %d free)",
		i, put, end.Activations, end.ActivationBytes, endFile, end.UsedBytes, end.FreeBytes, fullFile, full.UsedBytes, full.FreeBytes)
	if end.ActivationBytes > budget {
		t.Errorf("the records take %d bytes, over the budget of %d", end.ActivationBytes, budget)
	}
	if endFile != fullFile {
		t.Errorf("the file grew from %d to %d bytes once the records had reached their budget", fullFile, endFile)
	}
	if limit := int64(budget) * 3 / 2; end.UsedBytes > limit {
		t.Errorf("bbolt uses %d bytes of the file, want at most %d (the budget and a half)", end.UsedBytes, limit)
	}
}

// TestActivationWrittenOnce counts the bytes the store writes for big
// records: about their own size (each commit also writes a few pages of
// indexes, counts and meta), not twice or more. bbolt copies every value
// of a leaf when one of its keys changes, so big records stored as values
// were written again with every neighbour put next to them, and read
// through the map for it, which kept them resident.
func TestActivationWrittenOnce(t *testing.T) {
	s, _ := open(t, store.Options{MaxActivationBytes: -1})
	w0, ok := wchar(t)
	if !ok {
		t.Skip("no /proc/self/io to count the bytes written")
	}
	var put int64
	for i := range 40 {
		a, size := sized(t, "guest", fmt.Sprintf("%032x", i*7919), int64(1000+i), 200<<10)
		if err := s.PutActivation(a); err != nil {
			t.Fatal(err)
		}
		put += size
	}
	w1, _ := wchar(t)
	wrote := w1 - w0
	t.Logf("wrote %d bytes for %d bytes of records (%.2fx)", wrote, put, float64(wrote)/float64(put))
	if wrote > put*5/4 {
		t.Errorf("wrote %d bytes for %d bytes of records, want at most 1.25 times as many: records are copied", wrote, put)
	}
}

// TestActivationOverBudget: the record just put is kept even when it is
// over the budget on its own (the controller may read it right after),
// and a replaced record counts with its new size.
func TestActivationOverBudget(t *testing.T) {
	const budget = 16 << 10
	s, _ := open(t, store.Options{MaxActivationBytes: budget})
	small, smallSize := sized(t, "guest", "small", 1000, 2000)
	huge, hugeSize := sized(t, "guest", "huge", 2000, 40000)
	older, olderSize := sized(t, "guest", "older", 500, 1000)
	steps := []struct {
		name  string
		put   whisk.Activation
		want  string
		bytes int64
	}{
		{"small", small, "small", smallSize},
		{"huge: kept alone", huge, "huge", hugeSize},
		{"older than the huge one: the huge one goes", older, "older", olderSize},
		{"small again", small, "small,older", smallSize + olderSize},
	}
	for _, st := range steps {
		if err := s.PutActivation(st.put); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListActivations("guest", store.ActivationFilter{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		if u := usage(t, s); ids(got) != st.want || u.ActivationBytes != st.bytes || u.Activations != int64(len(got)) {
			t.Errorf("%s: kept %s (%d records, %d bytes), want %s (%d bytes)", st.name, ids(got), u.Activations, u.ActivationBytes, st.want, st.bytes)
		}
	}
	// Replaced by a bigger record (one of its own bucket), then by a
	// smaller one again (a value).
	for _, n := range []int{9000, 1500} {
		a, size := sized(t, "guest", "small", 1000, n)
		if err := s.PutActivation(a); err != nil {
			t.Fatal(err)
		}
		if u := usage(t, s); u.ActivationBytes != size+olderSize || u.Activations != 2 {
			t.Errorf("small replaced by %d bytes: %d records, %d bytes; want 2, %d", size, u.Activations, u.ActivationBytes, size+olderSize)
		}
		got, err := s.GetActivation("guest", "small")
		if err != nil || len(got.Response.Result) < n-400 {
			t.Errorf("small replaced by %d bytes: got a result of %d bytes, %v", size, len(got.Response.Result), err)
		}
	}
}

// TestActivationLimitsAtOpen opens a file with lower limits than it was
// written with: the records over them are dropped at once.
func TestActivationLimitsAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	s, err := store.OpenWith(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	for i := range 6 {
		a, size := sized(t, "guest", fmt.Sprintf("a%d", i), int64(1000+i), 10000)
		if err := s.PutActivation(a); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, size)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    store.Options
		want string
	}{
		{"same", store.Options{}, "a5,a4,a3,a2,a1,a0"},
		{"count", store.Options{MaxActivations: 5}, "a5,a4,a3,a2,a1"},
		{"bytes", store.Options{MaxActivationBytes: sizes[5] + sizes[4] + sizes[3]}, "a5,a4,a3"},
		{"both", store.Options{MaxActivations: 2, MaxActivationBytes: 1 << 30}, "a5,a4"},
	}
	for _, tc := range tests {
		s, err := store.OpenWith(path, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ListActivations("guest", store.ActivationFilter{Limit: -1})
		u := usage(t, s)
		s.Close()
		if err != nil || ids(got) != tc.want || u.Activations != int64(len(got)) {
			t.Errorf("%s: kept %s (%d counted), %v; want %s", tc.name, ids(got), u.Activations, err, tc.want)
		}
	}
}

// TestActivationOldFile opens a file written before the byte budget:
// records stored as values, no age index and no size. Open sizes and
// indexes them, and applies the budget.
func TestActivationOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	err = db.Update(func(tx *bolt.Tx) error {
		bs := map[string]*bolt.Bucket{}
		for _, name := range []string{"subjects", "actions", "packages", "activations", "actindex", "actcount"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			bs[name] = b
		}
		for i := range 4 {
			a, size := sized(t, "guest", fmt.Sprintf("a%d", i), int64(1000+i), 30000)
			raw, _ := json.Marshal(a)
			start := binary.BigEndian.AppendUint64(nil, uint64(a.Start))
			if err := bs["activations"].Put([]byte("guest\x00"+a.ActivationID), raw); err != nil {
				return err
			}
			if err := bs["actindex"].Put(append(append([]byte("guest\x00"), start...), a.ActivationID...), nil); err != nil {
				return err
			}
			sizes = append(sizes, size)
		}
		return bs["actcount"].Put([]byte("guest"), binary.BigEndian.AppendUint64(nil, 4))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := store.OpenWith(path, store.Options{MaxActivationBytes: sizes[3] + sizes[2] + sizes[1]/2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u := usage(t, s); u.Activations != 2 || u.ActivationBytes != sizes[3]+sizes[2] {
		t.Errorf("after open: %d records, %d bytes; want 2, %d", u.Activations, u.ActivationBytes, sizes[3]+sizes[2])
	}
	got, err := s.ListActivations("guest", store.ActivationFilter{Limit: -1})
	if err != nil || ids(got) != "a3,a2" {
		t.Errorf("after open: kept %s, %v; want a3,a2", ids(got), err)
	}
	// An old record is read and dropped as a new one is.
	if a, err := s.GetActivation("guest", "a2"); err != nil || a.ActivationID != "a2" {
		t.Errorf("GetActivation(a2) = %s, %v", a.ActivationID, err)
	}
	a, size := sized(t, "guest", "a4", 1004, 30000)
	if err := s.PutActivation(a); err != nil {
		t.Fatal(err)
	}
	if u := usage(t, s); u.Activations != 2 || u.ActivationBytes != size+sizes[3] {
		t.Errorf("after a put: %d records, %d bytes; want 2, %d", u.Activations, u.ActivationBytes, size+sizes[3])
	}
	if _, err := s.GetActivation("guest", "a2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetActivation(a2) after it was dropped: %v", err)
	}
}
