package activationdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// Bounds of one _bulk_docs request of PutActivations; more documents are
// sent in several requests, one after the other.
const (
	// MaxBulkDocs bounds the documents of one request: the batch size
	// of OpenWhisk's invoker (CouchDbRestStore's Batcher, 500).
	MaxBulkDocs = 500
	// MaxBulkBytes bounds the body of one request, well below CouchDB's
	// max_http_request_size (64 MiB in CouchDB 2, 4 GiB in 3). A document
	// larger than it is sent in a request of its own.
	MaxBulkBytes = 8 << 20
)

// bulkDocs is the last segment of the _bulk_docs endpoint's path, and the
// DocID of the *StatusError of a _bulk_docs request.
const bulkDocs = "_bulk_docs"

// maxBulkAnswer bounds the answer PutActivations reads to a _bulk_docs
// request of n documents. An entry is {"id","rev"} or {"id","error",
// "reason"}: an id of a few hundred bytes and a short reason.
func maxBulkAnswer(n int) int64 { return 64<<10 + int64(n)*(8<<10) }

// FailedDoc is a record PutActivations did not write.
type FailedDoc struct {
	// Index is the record's index in the slice PutActivations was given.
	Index int
	// DocID is the record's document id (DocID).
	DocID string
	// Err says why: ErrInvalid (wrapped) for a record NewDocument
	// refused; *DocError when CouchDB refused the document; for a
	// request that failed as a whole, the error of that request
	// (*StatusError, a malformed or oversized answer, a transport error
	// wrapping ctx's error when ctx ended), shared by all its documents.
	Err error
}

// BatchError is the error of PutActivations when it did not write every
// record. The records it does not list were written.
type BatchError struct {
	// Database is the database written to.
	Database string
	// Total is the number of records PutActivations was given.
	Total int
	// Failed lists the records not written, in the order given.
	Failed []FailedDoc
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "activationdb: %d of %d documents not written to database %q: ", len(e.Failed), e.Total, e.Database)
	// Documents that failed for the same reason (those of a failed
	// request) are named together, with the reason once.
	const maxGroups, maxIDs = 5, 5
	groups := 0
	for i := 0; i < len(e.Failed); {
		msg := "unknown error"
		if err := e.Failed[i].Err; err != nil {
			msg = strings.TrimPrefix(err.Error(), "activationdb: ")
		}
		j := i + 1
		for j < len(e.Failed) && e.Failed[j].Err != nil && strings.TrimPrefix(e.Failed[j].Err.Error(), "activationdb: ") == msg {
			j++
		}
		if groups == maxGroups {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
			break
		}
		if groups > 0 {
			b.WriteString("; ")
		}
		groups++
		if id := strconv.Quote(e.Failed[i].DocID); j-i == 1 && strings.Contains(msg, id) {
			b.WriteString(msg)
		} else {
			for k := i; k < j && k < i+maxIDs; k++ {
				if k > i {
					b.WriteString(", ")
				}
				b.WriteString(strconv.Quote(e.Failed[k].DocID))
			}
			if j-i > maxIDs {
				fmt.Fprintf(&b, " and %d more", j-i-maxIDs)
			}
			b.WriteString(": " + msg)
		}
		i = j
	}
	return b.String()
}

// Unwrap returns the errors of the records not written, so that
// errors.Is and errors.As see them (ErrInvalid, *DocError, *StatusError,
// ctx's error).
func (e *BatchError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for _, f := range e.Failed {
		if f.Err != nil {
			errs = append(errs, f.Err)
		}
	}
	return errs
}

// FailedRecords returns the indexes, in the slice PutActivations was
// given, of the records not written.
func (e *BatchError) FailedRecords() []int {
	idx := make([]int, len(e.Failed))
	for i, f := range e.Failed {
		idx[i] = f.Index
	}
	return idx
}

// DocError is CouchDB's refusal of one document of a _bulk_docs request:
// an entry of its answer with an "error" other than "conflict"
// ("forbidden" from a validation function, "unauthorized", ...).
type DocError struct {
	Database, DocID string
	// Code and Reason are the entry's "error" and "reason".
	Code, Reason string
}

func (e *DocError) Error() string {
	return fmt.Sprintf("activationdb: document %q refused by database %q", e.DocID, e.Database) + couchDetail(e.Code, e.Reason)
}

// PutActivations writes the documents of recs (those PutActivation would
// write, with the same "updated" for all) with POST
// /{database}/_bulk_docs, {"docs":[...]}, as OpenWhisk's invoker batches
// its activations (CouchDbRestStore's Batcher, CouchDbRestClient.putDocs):
// at most MaxBulkDocs documents and MaxBulkBytes bytes a request, the
// requests one after the other, all within ctx. It does not retain recs.
//
// CouchDB answers each document apart. As for PutActivation, a "conflict"
// means a document with that id is stored already (an earlier attempt of
// the same write got through) and counts as written. It returns nil when
// every record was written, and otherwise a *BatchError listing those
// that were not, and why: a record NewDocument refuses (ErrInvalid) is
// not sent and does not keep the others from being written; a document
// CouchDB refuses fails alone (*DocError); a request that fails as a
// whole (a transport error, a status other than 2xx, a malformed answer)
// fails its documents only. Errors never contain the password.
func (s *Store) PutActivations(ctx context.Context, recs []whisk.Activation) error {
	if len(recs) == 0 {
		return nil
	}
	updated := time.Now().UnixMilli()
	var (
		failed []FailedDoc
		body   bytes.Buffer
		batch  []sentDoc // the documents in body
	)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		body.WriteString("]}")
		failed = s.postBulk(ctx, body.Bytes(), batch, failed)
		body.Reset()
		batch = batch[:0]
	}
	for i, a := range recs {
		doc, err := NewDocument(a, updated)
		if err != nil {
			failed = append(failed, FailedDoc{Index: i, DocID: DocID(a), Err: err})
			continue
		}
		b, err := doc.Encode()
		if err != nil {
			failed = append(failed, FailedDoc{Index: i, DocID: doc.ID, Err: fmt.Errorf("activationdb: encode document %q: %w", doc.ID, err)})
			continue
		}
		// 2 for the "]}" that closes the body.
		if len(batch) == MaxBulkDocs || len(batch) > 0 && body.Len()+1+len(b)+2 > MaxBulkBytes {
			flush()
		}
		if len(batch) == 0 {
			body.WriteString(`{"docs":[`)
		} else {
			body.WriteByte(',')
		}
		body.Write(b)
		batch = append(batch, sentDoc{index: i, id: doc.ID})
	}
	flush()
	if len(failed) == 0 {
		return nil
	}
	slices.SortStableFunc(failed, func(a, b FailedDoc) int { return a.Index - b.Index })
	return &BatchError{Database: s.database, Total: len(recs), Failed: failed}
}

// sentDoc is a document of a _bulk_docs request.
type sentDoc struct {
	index int // in PutActivations' recs
	id    string
}

// postBulk sends body, a _bulk_docs request of the documents docs, and
// appends those not written to failed.
func (s *Store) postBulk(ctx context.Context, body []byte, docs []sentDoc, failed []FailedDoc) []FailedDoc {
	all := func(err error) []FailedDoc {
		for _, d := range docs {
			failed = append(failed, FailedDoc{Index: d.index, DocID: d.id, Err: err})
		}
		return failed
	}
	what := fmt.Sprintf("POST %s of %d documents in database %q", bulkDocs, len(docs), s.database)
	u := s.base + "/" + escape(s.database) + "/" + bulkDocs
	resp, err := s.send(ctx, http.MethodPost, u, body)
	if err != nil {
		return all(fmt.Errorf("activationdb: %s: %w", what, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return all(s.statusError(resp, http.MethodPost, s.database, bulkDocs))
	}
	limit := maxBulkAnswer(len(docs))
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ce := ctx.Err(); ce != nil && !errors.Is(err, ce) {
			err = fmt.Errorf("%w (%w)", ce, err)
		}
		return all(fmt.Errorf("activationdb: %s: reading the answer: %w", what, err))
	}
	if int64(len(raw)) > limit {
		return all(fmt.Errorf("activationdb: %s: the answer exceeds %d bytes", what, limit))
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.id
	}
	results, err := decodeBulkAnswer(raw, ids)
	if err != nil {
		if s.password != "" && strings.Contains(err.Error(), s.password) {
			err = errors.New(s.mask(err.Error()))
		}
		return all(fmt.Errorf("activationdb: %s: %w", what, err))
	}
	for i, r := range results {
		switch {
		case r.Error == "conflict":
			// Stored already: an earlier attempt got through.
		case r.Error != "" || r.Reason != "":
			failed = append(failed, FailedDoc{Index: docs[i].index, DocID: docs[i].id,
				Err: &DocError{Database: s.database, DocID: docs[i].id, Code: s.mask(r.Error), Reason: s.mask(r.Reason)}})
		case r.Rev == "":
			failed = append(failed, FailedDoc{Index: docs[i].index, DocID: docs[i].id,
				Err: fmt.Errorf("activationdb: %s: the answer for document %q has neither a rev nor an error", what, docs[i].id)})
		}
	}
	return failed
}

// bulkResult is one entry of a _bulk_docs answer: {"ok":true,"id","rev"}
// for a document written, {"id","error","reason"} for one refused.
type bulkResult struct {
	ID     string `json:"id"`
	Rev    string `json:"rev"`
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// decodeBulkAnswer decodes raw, CouchDB's answer to a _bulk_docs request
// of the documents ids: a JSON array of one entry per document, in the
// order they were sent, each naming its document. It returns one entry
// per id, or an error when raw is anything else.
func decodeBulkAnswer(raw []byte, ids []string) ([]bulkResult, error) {
	var results []bulkResult
	if err := json.Unmarshal(raw, &results); err != nil {
		return nil, fmt.Errorf("malformed answer %s: %w", quoteStart(raw), err)
	}
	if results == nil {
		return nil, fmt.Errorf("malformed answer %s: not an array", quoteStart(raw))
	}
	if len(results) != len(ids) {
		return nil, fmt.Errorf("malformed answer: %d entries for %d documents", len(results), len(ids))
	}
	for i, r := range results {
		if r.ID != ids[i] {
			return nil, fmt.Errorf("malformed answer: entry %d is for document %q, want %q", i, r.ID, ids[i])
		}
	}
	return results, nil
}

// quoteStart quotes the beginning of b, for an error.
func quoteStart(b []byte) string {
	const n = 64
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}

// mask replaces the password in s by "***".
func (s *Store) mask(v string) string {
	if s.password == "" {
		return v
	}
	return strings.ReplaceAll(v, s.password, "***")
}
