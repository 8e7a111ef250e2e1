package activationdb_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/activationdb"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// records returns n filled-in activations of namespace "guest", with
// the ids recordID(0), ..., recordID(n-1).
func records(n int) []whisk.Activation {
	recs := make([]whisk.Activation, n)
	for i := range recs {
		recs[i] = record("guest")
		recs[i].ActivationID = recordID(i)
	}
	return recs
}

func recordID(i int) string { return fmt.Sprintf("%032x", i+1) }

func docID(i int) string { return "guest/" + recordID(i) }

// bulkRequest is the body of a _bulk_docs request.
type bulkRequest struct {
	Docs []json.RawMessage `json:"docs"`
}

// couch is a CouchDB database as _bulk_docs and PUT see it: it decodes
// each document and answers for each what refuse says of its id ("" to
// store it, else CouchDB's error and reason), as CouchDB does: 201 and
// one entry per document, in order.
func couch(tb testing.TB, refuse func(id string) (code, reason string)) (*httptest.Server, func() []request) {
	tb.Helper()
	var mu sync.Mutex
	var reqs []request
	_, bench := tb.(*testing.B) // a benchmark keeps no requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !bench {
			mu.Lock()
			reqs = append(reqs, request{r.Method, r.URL.EscapedPath(), r.RequestURI, r.Header.Clone(), b})
			mu.Unlock()
		}
		type entry struct {
			OK     bool   `json:"ok,omitempty"`
			ID     string `json:"id"`
			Rev    string `json:"rev,omitempty"`
			Error  string `json:"error,omitempty"`
			Reason string `json:"reason,omitempty"`
		}
		answer := func(raw []byte) (entry, bool) {
			var doc struct {
				ID string `json:"_id"`
			}
			if json.Unmarshal(raw, &doc) != nil || doc.ID == "" {
				return entry{}, false
			}
			if code, reason := refuse(doc.ID); code != "" {
				return entry{ID: doc.ID, Error: code, Reason: reason}, true
			}
			return entry{OK: true, ID: doc.ID, Rev: "1-967a00dff5e02add41819138abb3284d"}, true
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_bulk_docs"):
			var req bulkRequest
			if err := json.Unmarshal(b, &req); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error":"bad_request","reason":"invalid UTF-8 JSON"}`)
				return
			}
			entries := make([]entry, len(req.Docs))
			for i, raw := range req.Docs {
				var ok bool
				if entries[i], ok = answer(raw); !ok {
					w.WriteHeader(http.StatusBadRequest)
					_, _ = io.WriteString(w, `{"error":"bad_request","reason":"Document must be a JSON object"}`)
					return
				}
			}
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(entries)
		case r.Method == http.MethodPut:
			e, ok := answer(b)
			switch {
			case !ok:
				w.WriteHeader(http.StatusBadRequest)
			case e.Error == "conflict":
				w.WriteHeader(http.StatusConflict)
			case e.Error != "":
				w.WriteHeader(http.StatusForbidden)
			default:
				w.WriteHeader(http.StatusCreated)
			}
			_ = json.NewEncoder(w).Encode(e)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	tb.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(reqs)
	}
}

// storeAll is a refuse function that stores every document.
func storeAll(string) (string, string) { return "", "" }

// TestPutActivationsRequest: one POST /{db}/_bulk_docs, with the auth and
// headers of PutActivation, whose documents are those PutActivation
// writes, with one "updated".
func TestPutActivationsRequest(t *testing.T) {
	tests := []struct {
		name, db, wantPath string
		n                  int
	}{
		{"one", "whisk_local_activations", "/whisk_local_activations/_bulk_docs", 1},
		{"three", "whisk_local_activations", "/whisk_local_activations/_bulk_docs", 3},
		{"database with slash", "org/activations", "/org%2Factivations/_bulk_docs", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := couch(t, storeAll)
			s := newStore(t, srv.URL, tt.db)
			recs := records(tt.n)
			before := time.Now().UnixMilli()
			if err := s.PutActivations(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
			after := time.Now().UnixMilli()
			// What PutActivation sends for the same records.
			for _, a := range recs {
				if err := s.PutActivation(context.Background(), a); err != nil {
					t.Fatal(err)
				}
			}
			reqs := seen()
			if len(reqs) != 1+tt.n {
				t.Fatalf("%d requests, want 1 + %d", len(reqs), tt.n)
			}
			r := reqs[0]
			if r.Method != http.MethodPost {
				t.Errorf("method %s, want POST", r.Method)
			}
			if r.EscapedPath != tt.wantPath || r.RequestURI != tt.wantPath {
				t.Errorf("path %q (request URI %q), want %q", r.EscapedPath, r.RequestURI, tt.wantPath)
			}
			wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPass))
			if got := r.Header.Get("Authorization"); got != wantAuth {
				t.Errorf("Authorization %q, want %q", got, wantAuth)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept %q", got)
			}
			var body map[string][]map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil || len(body) != 1 {
				t.Fatalf("body %.200s: %v, want {\"docs\":[...]}", r.Body, err)
			}
			docs := body["docs"]
			if len(docs) != tt.n {
				t.Fatalf("%d documents, want %d", len(docs), tt.n)
			}
			var updated any
			for i, doc := range docs {
				upd, ok := doc["updated"].(float64)
				if !ok || int64(upd) < before || int64(upd) > after {
					t.Errorf("document %d: updated %v, want epoch millis in [%d, %d]", i, doc["updated"], before, after)
				}
				if i > 0 && doc["updated"] != updated {
					t.Errorf("document %d: updated %v, document 0's %v", i, doc["updated"], updated)
				}
				updated = doc["updated"]
				var put map[string]any
				if err := json.Unmarshal(reqs[1+i].Body, &put); err != nil {
					t.Fatal(err)
				}
				delete(doc, "updated")
				delete(put, "updated")
				if !reflect.DeepEqual(doc, put) {
					t.Errorf("document %d\n got %v\nwant %v (PutActivation's)", i, doc, put)
				}
				if doc["_id"] != docID(i) {
					t.Errorf("document %d: _id %v, want %s", i, doc["_id"], docID(i))
				}
			}
			if bytes.Contains(r.Body, []byte(`\u003c`)) {
				t.Errorf("body escapes HTML: %.200s", r.Body)
			}
		})
	}
}

func TestPutActivationsNone(t *testing.T) {
	srv, seen := couch(t, storeAll)
	if err := newStore(t, srv.URL, "acts").PutActivations(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(seen()); n != 0 {
		t.Errorf("%d requests for no records", n)
	}
}

// TestPutActivationsRefused: CouchDB answers each document apart; a
// conflict is a document stored already; other refusals fail their
// document only, named in the error with CouchDB's error and reason.
func TestPutActivationsRefused(t *testing.T) {
	tests := []struct {
		name       string
		answers    map[int][2]string // record index: error, reason; others stored
		wantFailed []int
		wantErr    []string
	}{
		{"all stored", nil, nil, nil},
		{"conflicts are stored already", map[int][2]string{0: {"conflict", "Document update conflict."}, 3: {"conflict", "Document update conflict."}}, nil, nil},
		{"mixed", map[int][2]string{
			1: {"conflict", "Document update conflict."},
			2: {"forbidden", "only admins may write activations"},
			4: {"unauthorized", "no write access"},
		}, []int{2, 4}, []string{
			"2 of 5 documents not written", `"acts"`,
			`"` + docID(2) + `"`, "forbidden: only admins may write activations",
			`"` + docID(4) + `"`, "unauthorized: no write access",
		}},
		{"all refused", map[int][2]string{0: {"forbidden", "no"}, 1: {"forbidden", "no"}, 2: {"forbidden", "no"}, 3: {"forbidden", "no"}, 4: {"forbidden", "no"}},
			[]int{0, 1, 2, 3, 4}, []string{"5 of 5 documents not written", `"` + docID(0) + `"`, `"` + docID(4) + `"`, "forbidden: no"}},
		{"reason echoes the password", map[int][2]string{3: {"forbidden", "bad password " + testPass}},
			[]int{3}, []string{`"` + docID(3) + `"`, "forbidden: bad password ***"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := couch(t, func(id string) (string, string) {
				for i, a := range tt.answers {
					if id == docID(i) {
						return a[0], a[1]
					}
				}
				return "", ""
			})
			err := newStore(t, srv.URL, "acts").PutActivations(context.Background(), records(5))
			if n := len(seen()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			checkBatchError(t, err, 5, tt.wantFailed, tt.wantErr)
			var de *activationdb.DocError
			if tt.wantFailed != nil && (!errors.As(err, &de) || de.Database != "acts" || de.Code == "") {
				t.Errorf("error %v: no DocError", err)
			}
		})
	}
}

// checkBatchError checks that err is nil when wantFailed is, else a
// *BatchError of total records listing wantFailed, whose text holds
// wantErr and not the password.
func checkBatchError(t *testing.T, err error, total int, wantFailed []int, wantErr []string) *activationdb.BatchError {
	t.Helper()
	if wantFailed == nil {
		if err != nil {
			t.Fatalf("err %v, want nil", err)
		}
		return nil
	}
	var be *activationdb.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("err %v (%T), want a *BatchError", err, err)
	}
	if be.Total != total || be.Database != "acts" {
		t.Errorf("BatchError of %d records in %q, want %d in \"acts\"", be.Total, be.Database, total)
	}
	if got := be.FailedRecords(); !slices.Equal(got, wantFailed) {
		t.Errorf("failed records %v, want %v", got, wantFailed)
	}
	for _, f := range be.Failed {
		if f.DocID != docID(f.Index) || f.Err == nil {
			t.Errorf("failed %+v: want document %s and an error", f, docID(f.Index))
		}
	}
	for _, w := range wantErr {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if strings.Contains(err.Error(), testPass) {
		t.Errorf("error %q contains the password", err)
	}
	return be
}

// TestPutActivationsFailedRequest: a request that fails as a whole (a
// status other than 2xx, an answer that is not CouchDB's) fails all its
// documents, with a clear error.
func TestPutActivationsFailedRequest(t *testing.T) {
	all := []int{0, 1, 2}
	entry := func(i int) string { return `{"ok":true,"id":"` + docID(i) + `","rev":"1-a"}` }
	tests := []struct {
		name       string
		status     int
		body       string
		wantFailed []int // nil: none
		wantErr    []string
		wantStatus int // a *StatusError of this status
	}{
		{"created", http.StatusCreated, "[" + entry(0) + "," + entry(1) + "," + entry(2) + "]", nil, nil, 0},
		{"accepted", http.StatusAccepted, "[" + entry(0) + "," + entry(1) + "," + entry(2) + "]", nil, nil, 0},
		{"server error, not JSON", http.StatusInternalServerError, "upstream broke",
			all, []string{"3 of 3", "POST _bulk_docs", `"acts"`, "500 Internal Server Error", "upstream broke"}, 500},
		{"unauthorized", http.StatusUnauthorized, `{"error":"unauthorized","reason":"Name or password is incorrect."}`,
			all, []string{"401", "unauthorized: Name or password is incorrect."}, 401},
		{"body too large", http.StatusRequestEntityTooLarge, `{"error":"too_large","reason":"the request entity is too large"}`,
			all, []string{"413 Request Entity Too Large", "too_large"}, 413},
		{"server echoes the password", http.StatusInternalServerError, `{"error":"bad","reason":"password ` + testPass + `"}`,
			all, []string{"500", "bad: password ***"}, 500},
		{"answer not JSON", http.StatusCreated, "<html>ok</html>",
			all, []string{"3 of 3", `"` + docID(0) + `", "` + docID(1) + `", "` + docID(2) + `"`, "malformed answer", "<html>"}, 0},
		{"answer not an array", http.StatusCreated, `{"ok":true}`, all, []string{"malformed answer"}, 0},
		{"answer null", http.StatusCreated, `null`, all, []string{"malformed answer", "not an array"}, 0},
		{"answer empty", http.StatusCreated, ``, all, []string{"malformed answer"}, 0},
		{"too few entries", http.StatusCreated, "[" + entry(0) + "," + entry(1) + "]", all, []string{"2 entries for 3 documents"}, 0},
		{"entries out of order", http.StatusCreated, "[" + entry(0) + "," + entry(2) + "," + entry(1) + "]",
			all, []string{"entry 1 is for document", docID(2)}, 0},
		{"wrong type", http.StatusCreated, `[{"id":1},` + entry(1) + "," + entry(2) + "]", all, []string{"malformed answer", "cannot unmarshal"}, 0},
		{"trailing garbage", http.StatusCreated, "[" + entry(0) + "," + entry(1) + "," + entry(2) + "]x", all, []string{"malformed answer"}, 0},
		{"entry without rev or error", http.StatusCreated, "[" + entry(0) + `,{"id":"` + docID(1) + `"},` + entry(2) + "]",
			[]int{1}, []string{"1 of 3", docID(1), "neither a rev nor an error"}, 0},
		{"answer too large", http.StatusCreated, "[" + strings.Repeat(" ", int(activationdb.MaxBulkAnswer(3))) + "]",
			all, []string{"3 of 3", "the answer exceeds"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := server(t, tt.status, tt.body)
			err := newStore(t, srv.URL, "acts").PutActivations(context.Background(), records(3))
			if n := len(seen()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			checkBatchError(t, err, 3, tt.wantFailed, tt.wantErr)
			var se *activationdb.StatusError
			if got := errors.As(err, &se); got != (tt.wantStatus != 0) {
				t.Errorf("error %v: StatusError %v, want %v", err, got, tt.wantStatus != 0)
			} else if got && (se.StatusCode != tt.wantStatus || se.Method != http.MethodPost || se.DocID != "_bulk_docs" || se.Database != "acts") {
				t.Errorf("StatusError %+v, want POST _bulk_docs %d in acts", se, tt.wantStatus)
			}
		})
	}
}

// TestPutActivationsInvalid: an invalid record is not sent and does not
// keep the others from being written.
func TestPutActivationsInvalid(t *testing.T) {
	srv, seen := couch(t, storeAll)
	recs := records(5)
	recs[1].Subject = "abc"
	recs[3].Response.Result = json.RawMessage(`{`)
	err := newStore(t, srv.URL, "acts").PutActivations(context.Background(), recs)
	checkBatchError(t, err, 5, []int{1, 3}, []string{"2 of 5", docID(1), "subject", docID(3), "result is not JSON"})
	if !errors.Is(err, activationdb.ErrInvalid) {
		t.Errorf("err %v, want ErrInvalid", err)
	}
	reqs := seen()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if got := sentIDs(t, reqs[0].Body); !slices.Equal(got, []string{docID(0), docID(2), docID(4)}) {
		t.Errorf("sent %v, want the valid records' documents", got)
	}

	// No valid record: no request.
	recs = records(2)
	recs[0].Name, recs[1].Name = "", ""
	err = newStore(t, srv.URL, "acts").PutActivations(context.Background(), recs)
	checkBatchError(t, err, 2, []int{0, 1}, []string{"2 of 2", "no name"})
	if n := len(seen()); n != 1 {
		t.Errorf("%d requests, want none more", n-1)
	}
}

// sentIDs returns the ids of the documents of a _bulk_docs body.
func sentIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var req bulkRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("body %.200s: %v", body, err)
	}
	ids := make([]string, len(req.Docs))
	for i, raw := range req.Docs {
		var doc struct {
			ID string `json:"_id"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		ids[i] = doc.ID
	}
	return ids
}

// TestPutActivationsSplit: a request holds at most MaxBulkDocs documents
// and MaxBulkBytes bytes, but for a document larger than that alone;
// the documents are sent in order, and a failed request fails its own.
func TestPutActivationsSplit(t *testing.T) {
	withLogs := func(recs []whisk.Activation, mib ...int) []whisk.Activation {
		for i, m := range mib {
			recs[i].Logs = []string{strings.Repeat("x", m<<20)}
		}
		return recs
	}
	tests := []struct {
		name      string
		recs      []whisk.Activation
		wantSizes []int
	}{
		{"at the count limit", records(activationdb.MaxBulkDocs), []int{activationdb.MaxBulkDocs}},
		{"over the count limit", records(2*activationdb.MaxBulkDocs + 3), []int{activationdb.MaxBulkDocs, activationdb.MaxBulkDocs, 3}},
		{"over the byte limit", withLogs(records(5), 3, 3, 3, 3, 3), []int{2, 2, 1}},
		{"a document over the byte limit", withLogs(records(3), 1, 9, 1), []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := couch(t, storeAll)
			if err := newStore(t, srv.URL, "acts").PutActivations(context.Background(), tt.recs); err != nil {
				t.Fatal(err)
			}
			var sizes []int
			var ids []string
			for _, r := range seen() {
				got := sentIDs(t, r.Body)
				sizes = append(sizes, len(got))
				ids = append(ids, got...)
				if len(got) > 1 && len(r.Body) > activationdb.MaxBulkBytes {
					t.Errorf("a request of %d documents has %d bytes, over MaxBulkBytes", len(got), len(r.Body))
				}
			}
			if !slices.Equal(sizes, tt.wantSizes) {
				t.Errorf("requests of %v documents, want %v", sizes, tt.wantSizes)
			}
			for i := range tt.recs {
				if i >= len(ids) || ids[i] != docID(i) {
					t.Fatalf("documents sent %.5v..., want the records' in order", ids)
				}
			}
		})
	}

	// The second of three requests fails: its documents only are listed.
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if k == 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var req bulkRequest
		_ = json.Unmarshal(b, &req)
		out := make([]map[string]string, len(req.Docs))
		for i, raw := range req.Docs {
			var doc struct {
				ID string `json:"_id"`
			}
			_ = json.Unmarshal(raw, &doc)
			out[i] = map[string]string{"id": doc.ID, "rev": "1-a"}
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	total := 2*activationdb.MaxBulkDocs + 1
	err := newStore(t, srv.URL, "acts").PutActivations(context.Background(), records(total))
	var want []int
	for i := activationdb.MaxBulkDocs; i < 2*activationdb.MaxBulkDocs; i++ {
		want = append(want, i)
	}
	be := checkBatchError(t, err, total, want, []string{"500 of 1001", docID(500), "and 495 more", "503 Service Unavailable"})
	if be != nil && len(err.Error()) > 1000 {
		t.Errorf("error of %d bytes, want it short: %.300s...", len(err.Error()), err)
	}
}

func TestPutActivationsContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	s := newStore(t, srv.URL, "acts")
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"canceled before", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			err := s.PutActivations(ctx, records(3))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			checkBatchError(t, err, 3, []int{0, 1, 2}, []string{"POST _bulk_docs of 3 documents"})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// FuzzDecodeBulkAnswer: the decoder of _bulk_docs answers never panics,
// and what it accepts has one entry per document, each naming it.
func FuzzDecodeBulkAnswer(f *testing.F) {
	f.Add([]byte(`[{"ok":true,"id":"guest/a","rev":"1-x"},{"id":"guest/b","error":"conflict","reason":"Document update conflict."}]`), "guest/a\nguest/b")
	f.Add([]byte(`[{"id":"guest/a","error":"forbidden","reason":"no"}]`), "guest/a")
	f.Add([]byte(`[{"id":"guest/b"},{"id":"guest/a"}]`), "guest/a\nguest/b")
	f.Add([]byte(`{"error":"bad_request"}`), "guest/a")
	f.Add([]byte(`[{"id":null,"rev":7}]`), "guest/a")
	f.Add([]byte(`[]`), "")
	f.Add([]byte(`null`), "")
	f.Add([]byte(`[{"id":"\ud800"}]`), "\ufffd")
	f.Fuzz(func(t *testing.T, raw []byte, joined string) {
		var ids []string
		if joined != "" {
			ids = strings.Split(joined, "\n")
		}
		got, err := activationdb.DecodeBulkAnswer(raw, ids)
		if err != nil {
			if got != nil {
				t.Fatalf("entries %v with error %v", got, err)
			}
			return
		}
		if len(got) != len(ids) {
			t.Fatalf("%d entries for %d documents", len(got), len(ids))
		}
		for i, r := range got {
			if r.ID != ids[i] {
				t.Fatalf("entry %d for %q, want %q", i, r.ID, ids[i])
			}
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
	})
}

// BenchmarkPutActivations writes n records to a CouchDB-like server
// (couch: it decodes every document and answers each), one PUT each or
// in _bulk_docs requests. Same process, loopback: a diagnostic ratio,
// not CouchDB's throughput.
func BenchmarkPutActivations(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		recs := records(n)
		for _, mode := range []string{"put", "bulk"} {
			b.Run(fmt.Sprintf("%s/records=%d", mode, n), func(b *testing.B) {
				srv, _ := couch(b, storeAll)
				s, err := activationdb.New(activationdb.Config{URL: srv.URL, Database: "acts", Username: testUser, Password: testPass})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if mode == "bulk" {
						err = s.PutActivations(ctx, recs)
					} else {
						for _, a := range recs {
							if err = s.PutActivation(ctx, a); err != nil {
								break
							}
						}
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			})
		}
	}
}
