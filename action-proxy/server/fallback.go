package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/child"
	"github.com/wsk-route/wsk-route/internal/jsonscan"
)

// maxRouteBody bounds an invoker /run body the route plane reads whole
// to look for a fallback envelope: OpenWhisk's payload limit is 1 MB, so
// this only stops a runaway body.
const maxRouteBody = 64 << 20

// serveFallback answers an invoker /run that brings a fallback envelope
// (route/fallback.go): the route plane checks the frame and runs the step
// on this /run's process (held by lease), then sends the result on along
// the run. The answer tells the invoker what happened; the step's logs are
// this activation's, as for any /run.
func (p *Proxy) serveFallback(w http.ResponseWriter, r *http.Request, rs *routeState, lease *child.Lease, body, value []byte) {
	field := func(k string) string {
		v, ok := jsonscan.TopLevel(body, k)
		if !ok {
			return ""
		}
		var s string
		json.Unmarshal(v, &s)
		return s
	}
	p.identify(field("namespace"), field("action_name"), field("action_version"), field("api_key"))
	ctx := context.WithoutCancel(r.Context())
	if ms, err := strconv.ParseInt(field("deadline"), 10, 64); err == nil && ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.UnixMilli(ms))
		defer cancel()
	}
	var stray int
	answer, err := rs.router.RunFallback(ctx, value, field("activation_id"), func(ctx context.Context, body io.Reader) ([]byte, error) {
		result, n, err := lease.Process().Call(ctx, body)
		stray = n
		return result, err
	})
	lease.Release()
	p.drainLogs()
	if stray > 0 {
		p.cfg.Stderr.WriteString("proxy: discarded " + strconv.Itoa(stray) + " line(s) the action wrote on fd 3 after its previous result\n")
	}
	p.writeSentinels()
	if err != nil {
		sendError(w, http.StatusBadGateway, err.Error())
		return
	}
	send(w, http.StatusOK, append(answer, '\n'))
}
