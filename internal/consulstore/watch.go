package consulstore

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/consul/api"
)

// Blocking-query and retry settings of the watches.
const (
	watchWait    = 5 * time.Minute       // WaitTime of one blocking query (Consul adds up to 1/16 jitter)
	retryMin     = 50 * time.Millisecond // first wait after a failed query
	retryMax     = 5 * time.Second       // cap on the wait after failed queries
	maxRetryStep = 16                    // 2^16 * retryMin is far past retryMax
)

// retryWait is how long to wait after the n-th failed query in a row
// (n >= 1): retryMin doubled for each earlier failure, capped at retryMax,
// then jittered into [d/2, d) by r in [0, 1).
func retryWait(n int, r float64) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > maxRetryStep {
		n = maxRetryStep
	}
	d := retryMin << (n - 1)
	if d > retryMax {
		d = retryMax
	}
	return d/2 + time.Duration(r*float64(d/2))
}

// nextIndex is the WaitIndex to use after a query that returned last,
// given that it waited on prev: last, except that an index that went
// backwards starts over at 0 and a zero index (a Consul bug) becomes 1 so
// that the next query still blocks.
func nextIndex(prev, last uint64) uint64 {
	switch {
	case last < prev:
		return 0
	case last == 0:
		return 1
	}
	return last
}

// watch runs blocking queries until ctx ends and calls deliver with each
// result whose index differs from the one waited on (and with the first).
// Failed queries are reported to onError (if not nil) and retried after
// retryWait. It returns ctx.Err().
func watch[T any](ctx context.Context, query func(*api.QueryOptions) (T, *api.QueryMeta, error), deliver func(T), onError func(error)) error {
	var (
		index    uint64
		first    = true
		failures int
	)
	for {
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: watchWait}).WithContext(ctx)
		v, meta, err := query(q)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			failures++
			if onError != nil {
				onError(err)
			}
			t := time.NewTimer(retryWait(failures, rand.Float64()))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			continue
		}
		failures = 0
		changed := first || meta.LastIndex != index
		first = false
		index = nextIndex(index, meta.LastIndex)
		if changed {
			deliver(v)
		}
	}
}
