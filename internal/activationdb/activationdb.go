package activationdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// EntityType is the "entityType" of activation documents (WhiskActivation
// extends WhiskEntity(..., "activation")).
const EntityType = "activation"

// DefaultVersion is the version written when an activation has none:
// OpenWhisk's SemVer() default.
const DefaultVersion = "0.0.1"

// DefaultTimeout bounds one request of the client New makes when
// Config.Client is nil.
const DefaultTimeout = 10 * time.Second

// Environment variables OpenWhisk's invoker reads its CouchDB settings from
// (ansible roles/invoker/tasks/deploy.yml; common/scala/
// transformEnvironment.sh turns them into whisk.couchdb.* settings, which
// CouchDbStoreProvider loads as CouchDbConfig).
const (
	EnvProtocol           = "CONFIG_whisk_couchdb_protocol"
	EnvHost               = "CONFIG_whisk_couchdb_host"
	EnvPort               = "CONFIG_whisk_couchdb_port"
	EnvUsername           = "CONFIG_whisk_couchdb_username"
	EnvPassword           = "CONFIG_whisk_couchdb_password"
	EnvProvider           = "CONFIG_whisk_couchdb_provider"
	EnvDatabase           = "CONFIG_whisk_couchdb_databases_WhiskActivation"
	EnvEntityDatabase     = "CONFIG_whisk_couchdb_databases_WhiskEntity"
	EnvActivationStoreSPI = "CONFIG_whisk_spi_ActivationStoreProvider"
	EnvArtifactStoreSPI   = "CONFIG_whisk_spi_ArtifactStoreProvider"
)

// Config says how to reach the activations database.
type Config struct {
	// URL is the CouchDB server, scheme://host:port (a path after it is
	// kept as a prefix); it must not carry credentials.
	URL string
	// Database is the activations database (OpenWhisk's
	// db.whisk.activations, "<db_prefix>activations").
	Database string
	// EntityDatabase is the entity database, where OpenWhisk keeps the
	// actions (OpenWhisk's db.whisk.actions, "<db_prefix>whisks"), read by
	// LookupAction; "": actions are not looked up (LookupAction returns
	// ErrNoEntityDatabase).
	EntityDatabase string
	// Username and Password authenticate with HTTP basic auth.
	Username, Password string
	// Client sends the requests; nil: a client with a DefaultTimeout
	// timeout.
	Client *http.Client
}

// FromEnv reads the CouchDB settings OpenWhisk's invoker reads, from
// environ ("KEY=value" entries, as os.Environ returns them):
//
//	CONFIG_whisk_couchdb_protocol                    http or https
//	CONFIG_whisk_couchdb_host
//	CONFIG_whisk_couchdb_port
//	CONFIG_whisk_couchdb_username
//	CONFIG_whisk_couchdb_password
//	CONFIG_whisk_couchdb_provider                    CouchDB or Cloudant
//	CONFIG_whisk_couchdb_databases_WhiskActivation   the activations database
//	CONFIG_whisk_couchdb_databases_WhiskEntity       the entity database (optional)
//
// The entity database, where LookupAction reads actions, is optional:
// without it, it is named after the activations database as OpenWhisk's
// ansible names both after db_prefix (group_vars/all: db.whisk.actions
// "{{ db_prefix }}whisks", db.whisk.activations "{{ db_prefix }}activations"),
// so "whisk_local_activations" gives "whisk_local_whisks"; an activations
// database whose name does not end in "activations" gives none.
//
// As transformEnvironment.sh does, an empty value counts as absent and a
// value "$NAME" stands for the value of NAME when that is not empty.
//
// It returns false (and no error) when none of these is set, or when
// CONFIG_whisk_spi_ActivationStoreProvider or
// CONFIG_whisk_spi_ArtifactStoreProvider make the invoker write its
// activations somewhere else than CouchDB (ElasticSearch, MongoDB). It
// returns an error when some are set but one is missing or malformed;
// errors never contain the password.
func FromEnv(environ []string) (Config, bool, error) {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	get := func(k string) string {
		v := env[k]
		if strings.HasPrefix(v, "$") {
			if d := env[v[1:]]; d != "" {
				v = d
			}
		}
		return v
	}
	if p := get(EnvActivationStoreSPI); p != "" && !isClass(p, "ArtifactActivationStoreProvider", "ArtifactWithFileStorageActivationStoreProvider") {
		return Config{}, false, nil
	}
	if p := get(EnvArtifactStoreSPI); p != "" && !isClass(p, "CouchDbStoreProvider") {
		return Config{}, false, nil
	}
	names := []string{EnvProtocol, EnvHost, EnvPort, EnvUsername, EnvPassword, EnvProvider, EnvDatabase}
	var missing []string
	for _, n := range names {
		if get(n) == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) == len(names) {
		return Config{}, false, nil
	}
	if len(missing) > 0 {
		return Config{}, false, fmt.Errorf("activationdb: CouchDB is partly configured: %s not set", strings.Join(missing, ", "))
	}
	proto := get(EnvProtocol)
	if proto != "http" && proto != "https" {
		return Config{}, false, fmt.Errorf("activationdb: %s=%q: want http or https", EnvProtocol, proto)
	}
	host := get(EnvHost)
	if strings.ContainsAny(host, "/?#@ ") {
		return Config{}, false, fmt.Errorf("activationdb: %s=%q is not a host name", EnvHost, host)
	}
	port, err := strconv.Atoi(get(EnvPort))
	if err != nil || port < 1 || port > 65535 {
		return Config{}, false, fmt.Errorf("activationdb: %s=%q is not a port", EnvPort, get(EnvPort))
	}
	if p := get(EnvProvider); p != "CouchDB" && p != "Cloudant" {
		return Config{}, false, fmt.Errorf("activationdb: %s=%q: want CouchDB or Cloudant", EnvProvider, p)
	}
	entity := get(EnvEntityDatabase)
	if entity == "" {
		if prefix, ok := strings.CutSuffix(get(EnvDatabase), "activations"); ok {
			entity = prefix + "whisks"
		}
	}
	return Config{
		URL:            proto + "://" + net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port)),
		Database:       get(EnvDatabase),
		EntityDatabase: entity,
		Username:       get(EnvUsername),
		Password:       get(EnvPassword),
	}, true, nil
}

// isClass reports whether the class name fqcn is one of the simple names.
func isClass(fqcn string, simple ...string) bool {
	s := fqcn[strings.LastIndexByte(fqcn, '.')+1:]
	for _, n := range simple {
		if s == n {
			return true
		}
	}
	return false
}

// Store writes activation documents to one CouchDB database, and reads
// actions from another (actions.go).
type Store struct {
	base     string // scheme://host:port[/prefix], escaped, no trailing slash
	database string
	entities string // "": no entity database
	user     string
	password string
	client   *http.Client
}

// New returns a Store for cfg. It does not contact the server.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("activationdb: URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("activationdb: URL %q: want http(s)://host:port", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("activationdb: URL %q carries credentials: give them as Username and Password", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("activationdb: URL %q has a query or fragment", u.Redacted())
	}
	if cfg.Database == "" {
		return nil, errors.New("activationdb: no database")
	}
	c := cfg.Client
	if c == nil {
		c = &http.Client{Timeout: DefaultTimeout}
	}
	return &Store{
		base:     u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		database: cfg.Database,
		entities: cfg.EntityDatabase,
		user:     cfg.Username,
		password: cfg.Password,
		client:   c,
	}, nil
}

// Database returns the database s writes to.
func (s *Store) Database() string { return s.database }

// DocID returns the document id OpenWhisk gives a's record:
// namespace + "/" + activationId (WhiskEntity.docid).
func DocID(a whisk.Activation) string { return a.Namespace + "/" + a.ActivationID }

// Document is an activation document as OpenWhisk stores it: the fields of
// WhiskActivation.serdes, with "_id", "entityType" and "updated" from
// WhiskDocument and WhiskEntity.toDocumentRecord.
type Document struct {
	ID         string `json:"_id"`
	EntityType string `json:"entityType"`
	Updated    int64  `json:"updated"`
	whisk.Activation
	// Duration is always written, as the invoker writes it
	// (whisk.Activation leaves a zero one out).
	Duration int64 `json:"duration"`
}

// ErrInvalid is wrapped by the errors of PutActivation and NewDocument for
// a record OpenWhisk could not read back.
var ErrInvalid = errors.New("invalid activation record")

var semver = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)

// NewDocument returns a's document, stamped updated (epoch milliseconds).
// It checks what OpenWhisk needs to read the document back (a 32 hex digit
// activation id and cause, a namespace, a name, a subject of at least 5
// characters, a semantic version) and fills in what the invoker always
// writes: logs and annotations as arrays, version DefaultVersion when
// empty, and duration (a.Duration, or end - start when that is 0).
func NewDocument(a whisk.Activation, updated int64) (Document, error) {
	if err := validate(a); err != nil {
		return Document{}, err
	}
	// OpenWhisk's reader needs arrays for the logs and annotations.
	if a.Logs == nil {
		a.Logs = []string{}
	}
	if a.Annotations == nil {
		a.Annotations = whisk.KeyValues{}
	}
	if a.Version == "" {
		a.Version = DefaultVersion
	}
	if a.Duration == 0 && a.End != 0 {
		a.Duration = a.End - a.Start
	}
	return Document{ID: DocID(a), EntityType: EntityType, Updated: updated, Activation: a, Duration: a.Duration}, nil
}

// Record returns the record the document holds.
func (d Document) Record() whisk.Activation {
	a := d.Activation
	a.Duration = d.Duration
	return a
}

func validate(a whisk.Activation) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("activationdb: %w %q: %s", ErrInvalid, DocID(a), fmt.Sprintf(format, args...))
	}
	switch {
	case a.Namespace == "" || strings.TrimSpace(a.Namespace) != a.Namespace:
		return bad("namespace %q", a.Namespace)
	case !runevent.IsActivationID(a.ActivationID):
		return bad("activation id %q is not 32 lowercase hex digits", a.ActivationID)
	case a.Cause != "" && !runevent.IsActivationID(a.Cause):
		return bad("cause %q is not 32 lowercase hex digits", a.Cause)
	case a.Name == "":
		return bad("no name")
	case len(a.Subject) < 5:
		return bad("subject %q is shorter than 5 characters", a.Subject)
	case a.Version != "" && (!semver.MatchString(a.Version) || a.Version == "0.0.0"):
		return bad("version %q is not major.minor.patch", a.Version)
	case len(a.Response.Result) > 0 && !json.Valid(a.Response.Result):
		return bad("result is not JSON")
	}
	return nil
}

// Encode returns the document's JSON as it is sent to CouchDB.
func (d Document) Encode() ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(d); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// StatusError is the error of a request CouchDB answered with a status
// other than 2xx (or 409, for PutActivation; 404, for LookupAction).
type StatusError struct {
	// Method is the request's method, PUT, POST or GET ("" reads as
	// PUT).
	Method     string
	StatusCode int
	Database   string
	// DocID is the document's id; "_bulk_docs" for a request of
	// PutActivations, which writes several.
	DocID string
	// Code and Reason are CouchDB's "error" and "reason"; when the body
	// is not CouchDB's error object, Reason holds its beginning.
	Code, Reason string
}

func (e *StatusError) Error() string {
	method := e.Method
	if method == "" {
		method = http.MethodPut
	}
	what := fmt.Sprintf("document %q", e.DocID)
	if e.DocID == bulkDocs {
		what = bulkDocs
	}
	return fmt.Sprintf("activationdb: %s %s in database %q: %d %s", method, what, e.Database, e.StatusCode, http.StatusText(e.StatusCode)) +
		couchDetail(e.Code, e.Reason)
}

// send makes a request of method to u with the JSON body (nil: none), as
// CouchDB's API takes it (basic auth, JSON both ways). A failure ctx
// caused says so.
func (s *Store) send(ctx context.Context, method, u string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(s.user, s.password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		if ce := ctx.Err(); ce != nil && !errors.Is(err, ce) {
			err = fmt.Errorf("%w (%w)", ce, err)
		}
		return nil, err
	}
	return resp, nil
}

// couchDetail is ": <error>: <reason>" of a CouchDB answer, for the end
// of an error message; "" when it has neither.
func couchDetail(code, reason string) string {
	switch {
	case code != "" && reason != "":
		return ": " + code + ": " + reason
	case code != "" || reason != "":
		return ": " + code + reason
	}
	return ""
}

// PutActivation writes a's document (PUT /{database}/{namespace%2FactivationId},
// as CouchDbRestClient.putDoc does). A 409 Conflict means a document with
// that id is stored already: as activation ids are unique, an earlier
// attempt of the same write got through, and PutActivation returns nil
// (the stored document is not compared). Other failures are *StatusError,
// ErrInvalid or transport errors (wrapping ctx's error when ctx ended).
func (s *Store) PutActivation(ctx context.Context, a whisk.Activation) error {
	doc, err := NewDocument(a, time.Now().UnixMilli())
	if err != nil {
		return err
	}
	body, err := doc.Encode()
	if err != nil {
		return fmt.Errorf("activationdb: encode document %q: %w", doc.ID, err)
	}
	u := s.base + "/" + escape(s.database) + "/" + escape(doc.ID)
	resp, err := s.send(ctx, http.MethodPut, u, body)
	if err != nil {
		return fmt.Errorf("activationdb: PUT document %q in database %q: %w", doc.ID, s.database, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300, resp.StatusCode == http.StatusConflict:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	return s.statusError(resp, http.MethodPut, s.database, doc.ID)
}

// statusError returns the *StatusError of resp, a CouchDB answer to a
// request of method for document docID in database, with CouchDB's error
// and reason (or the beginning of the body), the password masked.
func (s *Store) statusError(resp *http.Response, method, database, docID string) *StatusError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	se := &StatusError{Method: method, StatusCode: resp.StatusCode, Database: database, DocID: docID}
	var cerr struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(raw, &cerr) == nil && (cerr.Error != "" || cerr.Reason != "") {
		se.Code, se.Reason = cerr.Error, cerr.Reason
	} else {
		r := strings.TrimSpace(string(raw))
		if len(r) > 200 {
			r = r[:200] + "..."
		}
		se.Reason = r
	}
	if s.password != "" {
		se.Reason = strings.ReplaceAll(se.Reason, s.password, "***")
		se.Code = strings.ReplaceAll(se.Code, s.password, "***")
	}
	return se
}

// escape escapes a path segment as OpenWhisk's CouchDbRestClient.uri does
// (java.net.URLEncoder: all but A-Z a-z 0-9 . - * _ percent-encoded, so
// '/' is %2F), except that a space is %20, not '+'.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '*' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
