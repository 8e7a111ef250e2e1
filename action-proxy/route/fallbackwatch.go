package route

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
)

// The entry watches the OpenWhisk activations its runs' steps fell back
// to (flow/whereabouts.go says why): it reads their records through the
// API until each step started or its activation ended.

const (
	// fallbackPollFirst and fallbackPollMax bound the interval between two
	// looks at a run's pending fallback activations (it doubles).
	fallbackPollFirst = 250 * time.Millisecond
	fallbackPollMax   = 2 * time.Second
	// fallbackGetTimeout bounds one GET of an activation record.
	fallbackGetTimeout = 5 * time.Second
)

// watchFallbacks looks at the run's pending fallback activations until
// none is left or the run ends, and gives the run each that ended.
func (p *Plane) watchFallbacks(er *entryRun) {
	wait := fallbackPollFirst
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-er.ended:
			return
		case <-er.ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		pending := er.run.Pending()
		p.mu.Unlock()
		if len(pending) == 0 {
			return
		}
		for k, id := range pending {
			rec, err := p.activationRecord(er.ctx, id)
			if err != nil {
				p.cfg.Logger.Debug("route: fallback activation not readable (yet)", "activation", id, "err", err)
				continue
			}
			if rec == nil {
				continue // still running
			}
			er.step(func(r *flow.Run) []flow.Action {
				return r.FallbackEnded(k, id, !rec.Response.Success, rec.Response.Status, rec.errorText())
			})
		}
		wait = min(2*wait, fallbackPollMax)
		t.Reset(wait)
	}
}

// activationRecord is what the OpenWhisk API shows of an activation.
type activationRecord struct {
	Response struct {
		Status  string          `json:"status"`
		Success bool            `json:"success"`
		Result  json.RawMessage `json:"result"`
	} `json:"response"`
}

// errorText is the activation's error, as its result says it.
func (a *activationRecord) errorText() string {
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(a.Response.Result, &r) == nil && len(r.Error) > 0 {
		var s string
		if json.Unmarshal(r.Error, &s) == nil {
			return s
		}
		return string(r.Error)
	}
	return string(a.Response.Result)
}

// activationRecord reads activation id through the OpenWhisk API, with
// the proxy's key; nil, nil while the activation has no record (running).
func (p *Plane) activationRecord(ctx context.Context, id string) (*activationRecord, error) {
	ident, _, _ := p.snapshot()
	base := p.cfg.APIHost
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, fallbackGetTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/namespaces/_/activations/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	user, pass, _ := strings.Cut(ident.APIKey, ":")
	req.SetBasicAuth(user, pass)
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, nil
	default:
		return nil, fmt.Errorf("GET activation %s: %s", id, resp.Status)
	}
	rec := new(activationRecord)
	if err := json.Unmarshal(body, rec); err != nil {
		return nil, fmt.Errorf("activation %s: %w", id, err)
	}
	return rec, nil
}
