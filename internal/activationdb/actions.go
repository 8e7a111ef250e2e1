package activationdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// EntityTypeAction is the "entityType" of action documents (WhiskAction
// extends WhiskEntity(..., "action")).
const EntityTypeAction = "action"

// maxActionDocument bounds the action document LookupAction reads. An
// action's code may be inline in it (OpenWhisk puts code it does not
// store as an attachment in the document; its default code size limit is
// 48 MB).
const maxActionDocument = 64 << 20

// ErrNoEntityDatabase is returned by LookupAction of a Store configured
// without an entity database.
var ErrNoEntityDatabase = errors.New("activationdb: no entity database to look actions up in")

// ErrNoAction is wrapped by the errors of LookupAction for an action the
// entity database does not hold at the version asked for: it has no such
// document (or a deleted one), the document is another entity's (a
// package, trigger or rule of that name), or it holds another version
// (OpenWhisk keeps only an action's newest version).
var ErrNoAction = errors.New("no such action")

// EntityDatabase returns the database s reads actions from, "" for none.
func (s *Store) EntityDatabase() string { return s.entities }

// ActionDocID returns the document id of the action whose fully qualified
// name is fqn ("/guest/hello", "/guest/pkg/hello") in the entity
// database: its path without the leading slash ("guest/hello",
// "guest/pkg/hello"), as FullyQualifiedEntityName.toDocId gives it. It
// returns false for a name that is not fully qualified.
func ActionDocID(fqn string) (string, bool) {
	if !strings.HasPrefix(fqn, "/") {
		return "", false
	}
	if _, _, _, err := whisk.ParseName(fqn); err != nil {
		return "", false
	}
	return fqn[1:], true
}

// actionDocument is what LookupAction reads of an action document
// (WhiskAction.serdes plus WhiskEntity's "entityType"); the rest, code
// included, is skipped.
type actionDocument struct {
	EntityType string `json:"entityType"`
	Version    string `json:"version"`
	Exec       struct {
		Kind string `json:"kind"`
	} `json:"exec"`
	// Limits as ActionLimits.serdes reads them: timeout and memory
	// required, logs and concurrency defaulting when absent (documents
	// written before they existed), instances only when the action has
	// it.
	Limits *struct {
		Timeout     *int `json:"timeout"`
		Memory      *int `json:"memory"`
		Logs        *int `json:"logs"`
		Concurrency *int `json:"concurrency"`
		Instances   *int `json:"instances"`
	} `json:"limits"`
}

// LookupAction returns the runtime kind and the limits of the action whose
// fully qualified name is action, read from its document in the entity
// database (GET /{entity database}/{path without the leading slash,
// escaped}, as CouchDbRestClient.getDoc reads it for the invoker). When
// version is not "" the document must hold that version. namespace, the
// namespace the action ran for, is not needed: the action's path names
// its document.
//
// Errors: ErrNoEntityDatabase; ErrNoAction (wrapped) for a 404, a document
// of another entity type or another version; *StatusError for other
// answers; and transport errors, wrapping ctx's error when ctx ended.
// Errors never contain the password.
func (s *Store) LookupAction(ctx context.Context, namespace, action, version string) (string, whisk.Limits, error) {
	if s.entities == "" {
		return "", whisk.Limits{}, ErrNoEntityDatabase
	}
	id, ok := ActionDocID(action)
	if !ok {
		return "", whisk.Limits{}, fmt.Errorf("activationdb: %q is not a fully qualified action name", action)
	}
	u := s.base + "/" + escape(s.entities) + "/" + escape(id)
	resp, err := s.send(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", whisk.Limits{}, fmt.Errorf("activationdb: GET document %q in database %q: %w", id, s.entities, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		se := s.statusError(resp, http.MethodGet, s.entities, id)
		return "", whisk.Limits{}, fmt.Errorf("activationdb: action %s: %w (%w)", action, ErrNoAction, se)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		return "", whisk.Limits{}, s.statusError(resp, http.MethodGet, s.entities, id)
	}
	var doc actionDocument
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxActionDocument)).Decode(&doc); err != nil {
		return "", whisk.Limits{}, fmt.Errorf("activationdb: GET document %q in database %q: reading it: %w", id, s.entities, err)
	}
	return doc.action(action, version)
}

// action returns the kind and limits of d, the document of the action
// fqn, checked against version.
func (d *actionDocument) action(fqn, version string) (string, whisk.Limits, error) {
	if d.EntityType != "" && d.EntityType != EntityTypeAction {
		return "", whisk.Limits{}, fmt.Errorf("activationdb: action %s: %w: the document is a %s's", fqn, ErrNoAction, d.EntityType)
	}
	if version != "" && d.Version != version {
		return "", whisk.Limits{}, fmt.Errorf("activationdb: action %s: %w at version %s: it is at version %q", fqn, ErrNoAction, version, d.Version)
	}
	if d.Exec.Kind == "" {
		return "", whisk.Limits{}, fmt.Errorf("activationdb: action %s: the document has no exec.kind", fqn)
	}
	if d.Limits == nil || d.Limits.Timeout == nil || d.Limits.Memory == nil {
		return "", whisk.Limits{}, fmt.Errorf("activationdb: action %s: the document's limits lack a timeout or memory", fqn)
	}
	l := whisk.Limits{Timeout: *d.Limits.Timeout, Memory: *d.Limits.Memory, Logs: whisk.DefaultLogsMB, Concurrency: whisk.DefaultConcurrency}
	if d.Limits.Logs != nil {
		l.Logs = *d.Limits.Logs
	}
	if d.Limits.Concurrency != nil {
		l.Concurrency = *d.Limits.Concurrency
	}
	if d.Limits.Instances != nil {
		l.Instances = *d.Limits.Instances
	}
	return d.Exec.Kind, l, nil
}
