package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/wsk-route/wsk-route/action-proxy/child"
)

func (p *Proxy) serveRun(w http.ResponseWriter, r *http.Request) {
	pool := p.current()
	if pool == nil {
		sendError(w, http.StatusInternalServerError, msgNoActionYet)
		return
	}
	lease, err := pool.Acquire(r.Context())
	switch {
	case errors.Is(err, child.ErrPoolClosed):
		sendError(w, http.StatusInternalServerError, msgNoActionYet)
		return
	case r.Context().Err() != nil:
		return // the caller is gone
	case err != nil:
		// Only a pool growing for a concurrent activation starts a child here.
		sendError(w, http.StatusBadGateway, "cannot start action: "+err.Error())
		return
	}
	result, stray, err := lease.Process().Call(r.Context(), r.Body)
	lease.Release()

	if errors.Is(err, child.ErrNotRunning) {
		// The child died between activations: nothing reached it.
		p.drop(pool)
		sendError(w, http.StatusInternalServerError, child.ErrExited.Error())
		return
	}
	if stray > 0 {
		fmt.Fprintf(p.cfg.Stderr, "proxy: discarded %d line(s) the action wrote on fd 3 after its previous result\n", stray)
	}
	p.writeSentinels()

	switch {
	case err == nil:
	case errors.Is(err, child.ErrExited):
		p.drop(pool)
		sendError(w, http.StatusBadRequest, err.Error())
		return
	case r.Context().Err() != nil:
		// The child was killed: its state was unknown.
		p.drop(pool)
		return
	case errors.Is(err, child.ErrResultTooLarge):
		sendError(w, http.StatusBadGateway, fmt.Sprintf("The action returned a result larger than %d bytes.", child.DefaultMaxResult))
		return
	default:
		// Reading the request failed midway; the child got a partial line
		// and was stopped.
		p.drop(pool)
		sendError(w, http.StatusBadRequest, "Error reading request body: "+err.Error())
		return
	}
	if !isObjectOrArray(result) {
		sendError(w, http.StatusBadGateway, msgNotDictArray)
		return
	}
	send(w, http.StatusOK, append(result, '\n'))
}

// isObjectOrArray reports whether b is one valid JSON object or array.
func isObjectOrArray(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t)
}
