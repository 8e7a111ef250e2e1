package route

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/wsk-route/wsk-route/internal/blob"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/shm"
)

// Large payloads on the fallback path: the sender writes the payload into
// a shm segment of its namespace on its own host and sends a blob frame,
// Ref "<host>/<segment>" (blob.FormatRef). The receiver maps the segment
// when it runs on that host; otherwise its agent pulls the bytes from the
// producing host's agent into a local segment (internal/blob,
// invoker-plugin/agent/blobs.go) and the receiver maps that one. Either
// way the receiver removes the segment it mapped after the step.

// fallbackPayload maps the payload of a fallback frame with a shm or blob
// payload and returns it with the function that unmaps and removes its
// segment once the step ran.
func (p *Plane) fallbackPayload(ctx context.Context, f *frame.Frame, w *welcomeState) (*shm.Segment, func(), error) {
	open := func(name string) (*shm.Segment, func(), error) {
		seg, err := shm.Open(w.shmDir, name, f.Size)
		if err != nil {
			return nil, nil, err
		}
		return seg, func() {
			seg.Close()
			shm.Remove(w.shmDir, name)
		}, nil
	}
	if f.PayloadKind == frame.PayloadShm { // a sender that predates blob refs
		seg, release, err := open(f.Ref)
		if err != nil {
			return nil, nil, fmt.Errorf("the payload (%d bytes) is in shm segment %s of the sender's host, which is not this container's host (%s): %w", f.Size, f.Ref, w.host, err)
		}
		return seg, release, nil
	}
	host, name, err := blob.ParseRef(f.Ref)
	if err != nil {
		return nil, nil, err
	}
	if host == w.host {
		seg, release, err := open(name)
		if err != nil {
			return nil, nil, fmt.Errorf("the payload (%d bytes) of blob %s, on this host: %w", f.Size, f.Ref, err)
		}
		return seg, release, nil
	}
	start := p.cfg.Now()
	local, err := p.fetchBlob(ctx, f)
	if err != nil {
		return nil, nil, fmt.Errorf("the payload (%d bytes) of blob %s, from host %s: %w", f.Size, f.Ref, host, err)
	}
	seg, release, err := open(local)
	if err != nil {
		shm.Remove(w.shmDir, local)
		return nil, nil, fmt.Errorf("the payload (%d bytes) of blob %s, fetched from host %s into segment %s: %w", f.Size, f.Ref, host, local, err)
	}
	p.cfg.Logger.Info("route: fetched a fallback payload from the sender's host", "run", f.RunID, "step", f.Step, "ref", f.Ref, "size", f.Size, "took", p.cfg.Now().Sub(start))
	return seg, release, nil
}

// fetchBlob asks the local agent, on its blob socket next to its
// websocket, to pull the blob f names into a segment of this namespace's
// shm directory, and returns the segment's name.
func (p *Plane) fetchBlob(ctx context.Context, f *frame.Frame) (string, error) {
	body, err := frame.Encode(nil, f)
	if err != nil {
		return "", fmt.Errorf("encoding the frame: %w", err)
	}
	if f.Deadline != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, f.Deadline))
		defer cancel()
	}
	sock := filepath.Join(filepath.Dir(p.cfg.AgentSocket), blob.FetchSocket)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+blob.FetchPath, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", fmt.Errorf("asking the agent at %s: %w", sock, err)
	}
	defer resp.Body.Close()
	var ans blob.FetchAnswer
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err == nil {
		err = json.Unmarshal(data, &ans)
	}
	switch {
	case resp.StatusCode != http.StatusOK && ans.Error != "":
		return "", fmt.Errorf("agent: %s", ans.Error)
	case err != nil:
		return "", fmt.Errorf("the agent at %s answered %s: %w", sock, resp.Status, err)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("the agent at %s answered %s", sock, resp.Status)
	case !shm.ValidName(ans.Segment):
		return "", fmt.Errorf("the agent at %s answered segment %q, not a segment name", sock, ans.Segment)
	}
	return ans.Segment, nil
}
