package route

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxInvokeAnswer bounds the answer of a blocking invoke: OpenWhisk's
// result limit (1 MB) with room for its envelope.
const maxInvokeAnswer = 2 << 20

// InvokeAction runs the action fqn on params (a JSON object) through the
// OpenWhisk API, blocking, as OpenWhisk runs a conductor action's
// components, and returns its result: the result object of an activation
// that succeeded or ended in an application or developer error ({"error":
// ...}, which OpenWhisk answers with 502). An activation still running
// when OpenWhisk's blocking wait ends (it answers 202 with its id) is
// waited for until ctx ends. An error means the action could not be run:
// no API host or key, a refused or failed request. An entry that conducts
// a composition uses it for the actions a dynamic combinator names, which
// have no step in the spec.
func (p *Plane) InvokeAction(ctx context.Context, fqn string, params []byte) ([]byte, error) {
	id, _, _ := p.snapshot()
	inv, err := p.api().call(ctx, id.APIKey, fqn, params)
	return inv.result, err
}

// StartAction invokes the action fqn on params through the OpenWhisk API
// without waiting for it, and returns the id of its activation. An entry
// that conducts a composition starts an async body so, as an activation
// of its own action, as composer's conductor does.
func (p *Plane) StartAction(ctx context.Context, fqn string, params []byte) (string, error) {
	id, _, _ := p.snapshot()
	return p.api().start(ctx, id.APIKey, fqn, params)
}

// api returns the plane's client of the OpenWhisk API.
func (p *Plane) api() apiClient { return apiClient{host: p.cfg.APIHost, http: p.cfg.HTTPClient} }

// apiClient calls the OpenWhisk REST API with an action's key: for the
// fallback, for the invokes of an entry that conducts a composition, and
// for every step of a run on an entry without an agent (apirun.go).
type apiClient struct {
	host string // "https://host:port" without a trailing slash; "": none
	http *http.Client
}

// invocation is an activation a blocking invoke waited for.
type invocation struct {
	activation string // its id; "" when OpenWhisk did not say
	result     []byte
}

// call runs fqn on params, blocking (see Plane.InvokeAction).
func (c apiClient) call(ctx context.Context, key, fqn string, params []byte) (invocation, error) {
	status, header, answer, err := c.do(ctx, key, http.MethodPost, fqn, params, "blocking=true&result=true")
	inv := invocation{activation: header.Get(activationIDHeader), result: answer}
	switch {
	case err != nil:
		return invocation{}, err
	case status == http.StatusOK:
		return inv, nil
	case status == http.StatusBadGateway && len(answer) > 0 && answer[0] == '{':
		return inv, nil // the activation's {"error": ...}
	case status == http.StatusAccepted:
		if inv.activation == "" {
			inv.activation = activationIDOf(answer)
		}
		if inv.activation == "" {
			return invocation{}, fmt.Errorf("invoking %s: 202 Accepted without an activation id: %s", fqn, answer)
		}
		return c.await(ctx, key, fqn, inv.activation)
	}
	return invocation{}, fmt.Errorf("invoking %s: %d %s: %s", fqn, status, http.StatusText(status), answer)
}

// start invokes fqn on params without waiting, and returns the id of its
// activation.
func (c apiClient) start(ctx context.Context, key, fqn string, params []byte) (string, error) {
	status, _, answer, err := c.do(ctx, key, http.MethodPost, fqn, params, "blocking=false")
	if err != nil {
		return "", err
	}
	id := activationIDOf(answer)
	if status != http.StatusAccepted || id == "" {
		return "", fmt.Errorf("starting %s: %d %s: %s", fqn, status, http.StatusText(status), answer)
	}
	return id, nil
}

// activationIDHeader names the activation in OpenWhisk's answers to
// invokes.
const activationIDHeader = "x-openwhisk-activation-id"

func activationIDOf(answer []byte) string {
	var accepted struct {
		ActivationID string `json:"activationId"`
	}
	json.Unmarshal(answer, &accepted)
	return accepted.ActivationID
}

// Bounds of the polls of await.
const (
	firstPoll = 50 * time.Millisecond
	maxPoll   = time.Second
)

// await waits for the activation id of fqn, which outlived OpenWhisk's
// blocking wait, by polling its result (404 until it has ended) until ctx
// ends.
func (c apiClient) await(ctx context.Context, key, fqn, id string) (invocation, error) {
	path := "/api/v1/namespaces/_/activations/" + url.PathEscape(id) + "/result"
	wait := firstPoll
	for {
		status, _, answer, err := c.do(ctx, key, http.MethodGet, path, nil, "")
		switch {
		case err != nil:
			return invocation{}, fmt.Errorf("waiting for activation %s of %s: %w", id, fqn, err)
		case status == http.StatusOK:
			var r struct {
				Result json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal(answer, &r); err != nil || len(r.Result) == 0 {
				return invocation{}, fmt.Errorf("activation %s of %s: a result without a result field: %.200s", id, fqn, answer)
			}
			return invocation{activation: id, result: bytes.TrimSpace(r.Result)}, nil
		case status != http.StatusNotFound:
			return invocation{}, fmt.Errorf("waiting for activation %s of %s: %d %s: %s", id, fqn, status, http.StatusText(status), answer)
		}
		if !sleep(ctx, wait) {
			return invocation{}, fmt.Errorf("waiting for activation %s of %s: %w", id, fqn, ctx.Err())
		}
		wait = min(2*wait, maxPoll)
	}
}

// do sends a request to the API with key: a POST of params to the invoke
// URL of the action fqn with query, or a GET of path (which fqn is then).
// It returns the answer's status, headers and body.
func (c apiClient) do(ctx context.Context, key, method, fqn string, params []byte, query string) (int, http.Header, []byte, error) {
	if c.host == "" {
		return 0, nil, nil, errNoFallback
	}
	if key == "" {
		return 0, nil, nil, errors.New("invoking an action: the proxy has no API key (the invoker gives __OW_API_KEY unless the action says provide-api-key: false)")
	}
	u := apiBase(c.host) + fqn
	if method == http.MethodPost {
		var err error
		if u, err = actionURL(c.host, fqn, query); err != nil {
			return 0, nil, nil, err
		}
	}
	var body io.Reader
	if params != nil {
		body = bytes.NewReader(params)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, nil, err
	}
	if params != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	user, pass, _ := strings.Cut(key, ":")
	req.SetBasicAuth(user, pass)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("invoking %s: %w", fqn, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxInvokeAnswer+1))
	switch {
	case err != nil:
		return 0, nil, nil, fmt.Errorf("invoking %s: reading the answer: %w", fqn, err)
	case len(answer) > maxInvokeAnswer:
		return 0, nil, nil, fmt.Errorf("invoking %s: the answer is larger than %d bytes", fqn, maxInvokeAnswer)
	}
	return resp.StatusCode, resp.Header, bytes.TrimSpace(answer), nil
}
