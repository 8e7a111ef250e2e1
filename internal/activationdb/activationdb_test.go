package activationdb_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
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

const (
	testID    = "0123456789abcdef0123456789abcdef"
	testCause = "fedcba9876543210fedcba9876543210"
	testUser  = "invoker0"
	testPass  = "s3cr3t-pa55word"
)

// record returns a filled-in activation of namespace ns.
func record(ns string) whisk.Activation {
	return whisk.Activation{
		Namespace:    ns,
		Name:         "step1",
		Subject:      "guest-subject",
		ActivationID: testID,
		Start:        1700000000000,
		End:          1700000000042,
		Cause:        testCause,
		Response:     whisk.Result{StatusCode: 0, Result: json.RawMessage(`{"a":1,"b":"<x>"}`)},
		Logs:         []string{"2026-12-07T07:00:00.000Z stdout: hello"},
		Version:      "0.0.3",
		Publish:      false,
		Annotations: whisk.KeyValues{
			{Key: "path", Value: json.RawMessage(`"guest/pkg/step1"`)},
			{Key: "kind", Value: json.RawMessage(`"nodejs:20"`)},
			{Key: "limits", Value: json.RawMessage(`{"concurrency":1,"logs":10,"memory":256,"timeout":60000}`)},
		},
		Duration: 42,
	}
}

// wantDoc is the document OpenWhisk's WhiskActivation.toDocumentRecord
// gives record(ns) (WhiskActivation.serdes fields, _id, entityType,
// updated), without "updated", which is the time of writing.
func wantDoc(ns string) map[string]any {
	var m map[string]any
	err := json.Unmarshal([]byte(`{
		"_id": "`+ns+`/`+testID+`",
		"entityType": "activation",
		"namespace": "`+ns+`",
		"name": "step1",
		"subject": "guest-subject",
		"activationId": "`+testID+`",
		"start": 1700000000000,
		"end": 1700000000042,
		"cause": "`+testCause+`",
		"response": {"statusCode": 0, "result": {"a": 1, "b": "<x>"}},
		"logs": ["2026-12-07T07:00:00.000Z stdout: hello"],
		"version": "0.0.3",
		"publish": false,
		"annotations": [
			{"key": "path", "value": "guest/pkg/step1"},
			{"key": "kind", "value": "nodejs:20"},
			{"key": "limits", "value": {"concurrency": 1, "logs": 10, "memory": 256, "timeout": 60000}}
		],
		"duration": 42
	}`), &m)
	if err != nil {
		panic(err)
	}
	return m
}

// request is what the test server saw.
type request struct {
	Method, EscapedPath, RequestURI string
	Header                          http.Header
	Body                            []byte
}

// server answers every request with status and body and records it.
func server(t *testing.T, status int, body string) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var reqs []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, request{r.Method, r.URL.EscapedPath(), r.RequestURI, r.Header.Clone(), b})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(reqs)
	}
}

func newStore(t *testing.T, url, db string) *activationdb.Store {
	t.Helper()
	s, err := activationdb.New(activationdb.Config{URL: url, Database: db, Username: testUser, Password: testPass})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPutActivationRequest(t *testing.T) {
	tests := []struct {
		name, db, ns, wantPath string
	}{
		{"plain", "whisk_local_activations", "guest",
			"/whisk_local_activations/guest%2F" + testID},
		{"namespace with @ and space", "whisk_local_activations", "user@example.com dev",
			"/whisk_local_activations/user%40example.com%20dev%2F" + testID},
		{"database with slash", "org/activations", "guest",
			"/org%2Factivations/guest%2F" + testID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := server(t, http.StatusCreated, `{"ok":true,"id":"x","rev":"1-abc"}`)
			before := time.Now().UnixMilli()
			if err := newStore(t, srv.URL, tt.db).PutActivation(context.Background(), record(tt.ns)); err != nil {
				t.Fatal(err)
			}
			after := time.Now().UnixMilli()
			reqs := seen()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPut {
				t.Errorf("method %s, want PUT", r.Method)
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
			var doc map[string]any
			if err := json.Unmarshal(r.Body, &doc); err != nil {
				t.Fatalf("body %s: %v", r.Body, err)
			}
			upd, ok := doc["updated"].(float64)
			if !ok || int64(upd) < before || int64(upd) > after {
				t.Errorf("updated %v, want epoch millis in [%d, %d]", doc["updated"], before, after)
			}
			delete(doc, "updated")
			if want := wantDoc(tt.ns); !reflect.DeepEqual(doc, want) {
				t.Errorf("document\n got %v\nwant %v", doc, want)
			}
			if strings.Contains(string(r.Body), `\u003c`) {
				t.Errorf("body escapes HTML: %s", r.Body)
			}
		})
	}
}

func TestDocumentDefaults(t *testing.T) {
	a := record("guest")
	a.Cause, a.Logs, a.Annotations, a.Version, a.Duration = "", nil, nil, "", 0
	a.Response = whisk.Result{StatusCode: whisk.StatusDeveloperError}
	d, err := activationdb.NewDocument(a, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		want  any // nil: absent
	}{
		{"cause", nil},            // Option None is left out
		{"logs", []any{}},         // ActivationLogs() is []
		{"annotations", []any{}},  // views loop over annotations
		{"version", "0.0.1"},      // SemVer()
		{"duration", float64(42)}, // end - start, as the invoker writes it
		{"response", map[string]any{"statusCode": float64(2)}}, // no result
		{"updated", float64(7)},
		{"entityType", "activation"},
	}
	for _, tt := range tests {
		v, ok := got[tt.field]
		if tt.want == nil {
			if ok {
				t.Errorf("%s = %v, want absent", tt.field, v)
			}
			continue
		}
		if !reflect.DeepEqual(v, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.field, v, tt.want)
		}
	}
}

func TestPutActivationStatus(t *testing.T) {
	docID := "guest/" + testID
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr []string // nil: success
	}{
		{"created", http.StatusCreated, `{"ok":true,"id":"guest/x","rev":"1-a"}`, nil},
		{"accepted", http.StatusAccepted, `{"ok":true,"id":"guest/x","rev":"1-a"}`, nil},
		{"conflict is stored already", http.StatusConflict, `{"error":"conflict","reason":"Document update conflict."}`, nil},
		{"unauthorized", http.StatusUnauthorized, `{"error":"unauthorized","reason":"Name or password is incorrect."}`,
			[]string{"401", `"acts"`, `"` + docID + `"`, "unauthorized", "Name or password is incorrect."}},
		{"not found", http.StatusNotFound, `{"error":"not_found","reason":"Database does not exist."}`,
			[]string{"404", `"acts"`, `"` + docID + `"`, "not_found", "Database does not exist."}},
		{"server error, not JSON", http.StatusInternalServerError, "upstream broke",
			[]string{"500", `"acts"`, `"` + docID + `"`, "upstream broke"}},
		{"server echoes the password", http.StatusInternalServerError, `{"error":"bad","reason":"password ` + testPass + `"}`,
			[]string{"500", `"acts"`, "bad", "password ***"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := server(t, tt.status, tt.body)
			err := newStore(t, srv.URL, "acts").PutActivation(context.Background(), record("guest"))
			if n := len(seen()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("err %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testPass) {
				t.Errorf("error %q contains the password", err)
			}
			var se *activationdb.StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.status || se.Database != "acts" || se.DocID != docID {
				t.Errorf("error %#v, want a StatusError for %d", err, tt.status)
			}
		})
	}
}

func TestPutActivationContext(t *testing.T) {
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
		{"canceled during", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
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
			err := s.PutActivation(ctx, record("guest"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if strings.Contains(err.Error(), testPass) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestPutActivationInvalid(t *testing.T) {
	srv, seen := server(t, http.StatusCreated, `{"ok":true}`)
	s := newStore(t, srv.URL, "acts")
	tests := []struct {
		name   string
		modify func(*whisk.Activation)
	}{
		{"no namespace", func(a *whisk.Activation) { a.Namespace = "" }},
		{"short id", func(a *whisk.Activation) { a.ActivationID = "abc" }},
		{"uppercase id", func(a *whisk.Activation) { a.ActivationID = strings.ToUpper(testID) }},
		{"bad cause", func(a *whisk.Activation) { a.Cause = "not-an-id" }},
		{"no name", func(a *whisk.Activation) { a.Name = "" }},
		{"short subject", func(a *whisk.Activation) { a.Subject = "abc" }},
		{"bad version", func(a *whisk.Activation) { a.Version = "1.0" }},
		{"zero version", func(a *whisk.Activation) { a.Version = "0.0.0" }},
		{"result not JSON", func(a *whisk.Activation) { a.Response.Result = json.RawMessage(`{`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := record("guest")
			tt.modify(&a)
			if err := s.PutActivation(context.Background(), a); !errors.Is(err, activationdb.ErrInvalid) {
				t.Errorf("err %v, want ErrInvalid", err)
			}
		})
	}
	if n := len(seen()); n != 0 {
		t.Errorf("%d requests sent for invalid records", n)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     activationdb.Config
		wantErr string // "": no error
	}{
		{"ok", activationdb.Config{URL: "http://db:5984", Database: "acts"}, ""},
		{"ok with prefix", activationdb.Config{URL: "https://db:6984/couch/", Database: "acts"}, ""},
		{"no database", activationdb.Config{URL: "http://db:5984"}, "no database"},
		{"no scheme", activationdb.Config{URL: "db:5984", Database: "acts"}, "want http(s)"},
		{"ftp", activationdb.Config{URL: "ftp://db:5984", Database: "acts"}, "want http(s)"},
		{"credentials in URL", activationdb.Config{URL: "http://admin:" + testPass + "@db:5984", Database: "acts"}, "carries credentials"},
		{"query", activationdb.Config{URL: "http://db:5984?x=1", Database: "acts"}, "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := activationdb.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || s == nil || s.Database() != tt.cfg.Database {
					t.Fatalf("New: %v, %v", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testPass) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestNewPrefixPath(t *testing.T) {
	srv, seen := server(t, http.StatusCreated, `{"ok":true}`)
	s := newStore(t, srv.URL+"/couch/", "acts")
	if err := s.PutActivation(context.Background(), record("guest")); err != nil {
		t.Fatal(err)
	}
	if got, want := seen()[0].EscapedPath, "/couch/acts/guest%2F"+testID; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
}

func TestFromEnv(t *testing.T) {
	full := []string{
		"CONFIG_whisk_couchdb_protocol=http",
		"CONFIG_whisk_couchdb_host=172.17.0.1",
		"CONFIG_whisk_couchdb_port=5984",
		"CONFIG_whisk_couchdb_username=whisk_admin",
		"CONFIG_whisk_couchdb_password=" + testPass,
		"CONFIG_whisk_couchdb_provider=CouchDB",
		"CONFIG_whisk_couchdb_databases_WhiskActivation=whisk_local_activations",
		"CONFIG_whisk_couchdb_databases_WhiskEntity=whisk_local_whisks",
		"PATH=/usr/bin",
	}
	with := func(extra ...string) []string { return append(slices.Clone(full), extra...) }
	without := func(name string) []string {
		return slices.DeleteFunc(slices.Clone(full), func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
	}
	wantFull := activationdb.Config{URL: "http://172.17.0.1:5984", Database: "whisk_local_activations", EntityDatabase: "whisk_local_whisks",
		Username: "whisk_admin", Password: testPass}
	entity := func(db string) activationdb.Config { c := wantFull; c.EntityDatabase = db; return c }

	tests := []struct {
		name    string
		environ []string
		want    activationdb.Config
		wantOK  bool
		wantErr string
	}{
		{"absent", []string{"PATH=/usr/bin", "CONFIG_whisk_kafka_replicationFactor=1"}, activationdb.Config{}, false, ""},
		{"all empty", []string{"CONFIG_whisk_couchdb_host=", "CONFIG_whisk_couchdb_port="}, activationdb.Config{}, false, ""},
		{"present", full, wantFull, true, ""},
		{"https Cloudant IPv6", with("CONFIG_whisk_couchdb_protocol=https", "CONFIG_whisk_couchdb_provider=Cloudant", "CONFIG_whisk_couchdb_host=::1", "CONFIG_whisk_couchdb_port=443"),
			activationdb.Config{URL: "https://[::1]:443", Database: "whisk_local_activations", EntityDatabase: "whisk_local_whisks", Username: "whisk_admin", Password: testPass}, true, ""},
		// The entity database: as given, else named as OpenWhisk's ansible
		// names it next to the activations database (db_prefix + "whisks").
		{"entity database of another name", with("CONFIG_whisk_couchdb_databases_WhiskEntity=prod_entities"), entity("prod_entities"), true, ""},
		{"entity database from the prefix", without("CONFIG_whisk_couchdb_databases_WhiskEntity"), wantFull, true, ""},
		{"entity database empty: from the prefix", with("CONFIG_whisk_couchdb_databases_WhiskEntity="), wantFull, true, ""},
		{"entity database dereferenced", with("CONFIG_whisk_couchdb_databases_WhiskEntity=$DB_WHISK_ACTIONS", "DB_WHISK_ACTIONS=ow_whisks"), entity("ow_whisks"), true, ""},
		{"no prefix to name it after", slices.DeleteFunc(with("CONFIG_whisk_couchdb_databases_WhiskActivation=records"), func(kv string) bool {
			return strings.HasPrefix(kv, "CONFIG_whisk_couchdb_databases_WhiskEntity=")
		}), func() activationdb.Config { c := entity(""); c.Database = "records"; return c }(), true, ""},
		{"dereferenced value", with("CONFIG_whisk_couchdb_password=$DB_PASS", "DB_PASS="+testPass), wantFull, true, ""},
		{"explicit default providers", with("CONFIG_whisk_spi_ActivationStoreProvider=org.apache.openwhisk.core.database.ArtifactActivationStoreProvider",
			"CONFIG_whisk_spi_ArtifactStoreProvider=org.apache.openwhisk.core.database.CouchDbStoreProvider"), wantFull, true, ""},
		{"ElasticSearch activation store", with("CONFIG_whisk_spi_ActivationStoreProvider=org.apache.openwhisk.core.database.elasticsearch.ElasticSearchActivationStoreProvider"),
			activationdb.Config{}, false, ""},
		{"MongoDB artifact store", with("CONFIG_whisk_spi_ArtifactStoreProvider=org.apache.openwhisk.core.database.mongodb.MongoDBArtifactStoreProvider"),
			activationdb.Config{}, false, ""},
		{"missing database", without("CONFIG_whisk_couchdb_databases_WhiskActivation"), activationdb.Config{}, false, "CONFIG_whisk_couchdb_databases_WhiskActivation not set"},
		{"missing password", without("CONFIG_whisk_couchdb_password"), activationdb.Config{}, false, "CONFIG_whisk_couchdb_password not set"},
		{"empty host", with("CONFIG_whisk_couchdb_host="), activationdb.Config{}, false, "CONFIG_whisk_couchdb_host not set"},
		{"bad port", with("CONFIG_whisk_couchdb_port=59x4"), activationdb.Config{}, false, "CONFIG_whisk_couchdb_port"},
		{"port out of range", with("CONFIG_whisk_couchdb_port=70000"), activationdb.Config{}, false, "is not a port"},
		{"bad protocol", with("CONFIG_whisk_couchdb_protocol=ftp"), activationdb.Config{}, false, "want http or https"},
		{"bad provider", with("CONFIG_whisk_couchdb_provider=MongoDB"), activationdb.Config{}, false, "want CouchDB or Cloudant"},
		{"host with path", with("CONFIG_whisk_couchdb_host=db/x"), activationdb.Config{}, false, "not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := activationdb.FromEnv(tt.environ)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testPass) {
					t.Errorf("error %q contains the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("FromEnv = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
			if ok {
				if _, err := activationdb.New(got); err != nil {
					t.Errorf("New(FromEnv()): %v", err)
				}
			}
		})
	}
}

func TestDocumentRoundTrip(t *testing.T) {
	big := make([]string, 2000)
	for i := range big {
		big[i] = "2026-12-07T07:00:00.000000001Z stdout: " + strings.Repeat("x", 500)
	}
	tests := []struct {
		name string
		a    whisk.Activation
	}{
		{"unicode", func() whisk.Activation {
			a := record("gäst_名前")
			a.Name = "schritt-ü"
			a.Logs = []string{"2026-12-07T07:00:00Z stdout: héllo 世界 🚀", "2026-12-07T07:00:00Z stderr: \"quoted\" \\ \t <tag> & \u2028"}
			a.Response.Result = json.RawMessage(`{"msg":"größe 🚀","html":"<b>&</b>","n":12345678901234567890}`)
			return a
		}()},
		{"large logs", func() whisk.Activation {
			a := record("guest")
			a.Logs = big
			return a
		}()},
		{"cause and error result", func() whisk.Activation {
			a := record("guest")
			a.Cause = testCause
			a.Response = whisk.ErrorResult(whisk.StatusApplicationError, "boom")
			a.Publish = true
			return a
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := server(t, http.StatusCreated, `{"ok":true}`)
			if err := newStore(t, srv.URL, "acts").PutActivation(context.Background(), tt.a); err != nil {
				t.Fatal(err)
			}
			var sent activationdb.Document
			if err := json.Unmarshal(seen()[0].Body, &sent); err != nil {
				t.Fatal(err)
			}
			d, err := activationdb.NewDocument(tt.a, 1)
			if err != nil {
				t.Fatal(err)
			}
			b, err := d.Encode()
			if err != nil {
				t.Fatal(err)
			}
			var back activationdb.Document
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			for _, got := range []activationdb.Document{sent, back} {
				if got.ID != tt.a.Namespace+"/"+tt.a.ActivationID || got.EntityType != "activation" {
					t.Errorf("id %q, entityType %q", got.ID, got.EntityType)
				}
				if !equalActivation(t, got.Record(), tt.a) {
					t.Errorf("round trip changed the record")
				}
			}
		})
	}
}

// equalActivation compares activations, JSON values by their meaning.
func equalActivation(t *testing.T, got, want whisk.Activation) bool {
	t.Helper()
	norm := func(a whisk.Activation) map[string]any {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	g, w := norm(got), norm(want)
	if !reflect.DeepEqual(g, w) {
		t.Logf("got  %.300v\nwant %.300v", g, w)
		return false
	}
	return true
}
