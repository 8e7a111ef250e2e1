package route

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxInvokeAnswer bounds the answer of a blocking invoke: OpenWhisk's
// result limit (1 MB) with room for its envelope.
const maxInvokeAnswer = 2 << 20

// InvokeAction runs the action fqn on params (a JSON object) through the
// OpenWhisk API, blocking, as OpenWhisk runs a conductor action's
// components, and returns its result: the result object of an activation
// that succeeded or ended in an application or developer error ({"error":
// ...}, which OpenWhisk answers with 502). An error means the action could
// not be run: no API host or key, a refused or failed request, or an
// activation that outlived the blocking wait (OpenWhisk then answers 202
// with its id). An entry that conducts a composition uses it for the
// actions a dynamic combinator names, which have no step in the spec.
func (p *Plane) InvokeAction(ctx context.Context, fqn string, params []byte) ([]byte, error) {
	status, answer, err := p.invoke(ctx, fqn, params, "blocking=true&result=true")
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusOK:
		return answer, nil
	case status == http.StatusBadGateway && len(answer) > 0 && answer[0] == '{':
		return answer, nil // the activation's {"error": ...}
	case status == http.StatusAccepted:
		return nil, fmt.Errorf("invoking %s: still running when the blocking wait ended: %s", fqn, answer)
	default:
		return nil, fmt.Errorf("invoking %s: %d %s: %s", fqn, status, http.StatusText(status), answer)
	}
}

// StartAction invokes the action fqn on params through the OpenWhisk API
// without waiting for it, and returns the id of its activation. An entry
// that conducts a composition starts an async body so, as an activation
// of its own action, as composer's conductor does.
func (p *Plane) StartAction(ctx context.Context, fqn string, params []byte) (string, error) {
	status, answer, err := p.invoke(ctx, fqn, params, "blocking=false")
	if err != nil {
		return "", err
	}
	var accepted struct {
		ActivationID string `json:"activationId"`
	}
	if status != http.StatusAccepted || json.Unmarshal(answer, &accepted) != nil || accepted.ActivationID == "" {
		return "", fmt.Errorf("starting %s: %d %s: %s", fqn, status, http.StatusText(status), answer)
	}
	return accepted.ActivationID, nil
}

// invoke posts params to the invoke URL of fqn with query, with the
// action's API key, and returns the answer's status and body.
func (p *Plane) invoke(ctx context.Context, fqn string, params []byte, query string) (int, []byte, error) {
	if p.cfg.APIHost == "" {
		return 0, nil, errNoFallback
	}
	id, _, _ := p.snapshot()
	if id.APIKey == "" {
		return 0, nil, errors.New("invoking an action: the proxy has no API key (the invoker gives __OW_API_KEY unless the action says provide-api-key: false)")
	}
	u, err := actionURL(p.cfg.APIHost, fqn, query)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(params))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	user, pass, _ := strings.Cut(id.APIKey, ":")
	req.SetBasicAuth(user, pass)
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("invoking %s: %w", fqn, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxInvokeAnswer+1))
	switch {
	case err != nil:
		return 0, nil, fmt.Errorf("invoking %s: reading the answer: %w", fqn, err)
	case len(answer) > maxInvokeAnswer:
		return 0, nil, fmt.Errorf("invoking %s: the answer is larger than %d bytes", fqn, maxInvokeAnswer)
	}
	return resp.StatusCode, bytes.TrimSpace(answer), nil
}
