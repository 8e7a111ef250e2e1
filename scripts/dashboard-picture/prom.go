package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Prometheus is a client of a Prometheus server's HTTP API.
type Prometheus struct {
	URL    string // "http://127.0.0.1:9090"
	Client *http.Client
}

// get sends GET path?q and returns the body. Prometheus answers a bad
// query with 400 and a JSON error, which the caller decodes.
func (p *Prometheus) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := strings.TrimSuffix(p.URL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("prometheus: reading %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnprocessableEntity {
		return nil, fmt.Errorf("prometheus: %s: %s", path, resp.Status)
	}
	return body, nil
}

// QueryRange evaluates expr from start to end every step
// (/api/v1/query_range).
func (p *Prometheus) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]Series, error) {
	q := url.Values{}
	q.Set("query", expr)
	q.Set("start", unixString(start))
	q.Set("end", unixString(end))
	q.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	body, err := p.get(ctx, "/api/v1/query_range", q)
	if err != nil {
		return nil, err
	}
	return DecodeMatrix(body)
}

// Version is the server's version, from /api/v1/status/buildinfo.
func (p *Prometheus) Version(ctx context.Context) (string, error) {
	body, err := p.get(ctx, "/api/v1/status/buildinfo", nil)
	if err != nil {
		return "", err
	}
	var r struct {
		Data struct {
			Version string `json:"version"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Data.Version == "" {
		return "", fmt.Errorf("prometheus: buildinfo: no version in %.100q", body)
	}
	return r.Data.Version, nil
}

func unixString(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}
