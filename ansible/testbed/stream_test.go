package testbed

import (
	"bufio"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
)

// Runs in flight: streamWorkers clients, each invoking the workflow again
// streamPause after its previous run ended. The agents' /metrics are
// polled every watchEvery, to see when each agent process was replaced.
const (
	streamWorkers = 2
	streamPause   = 100 * time.Millisecond
	watchEvery    = 200 * time.Millisecond
	// A run counts as in flight at an agent's restart when it started at
	// most inFlightBefore before the old agent's last answer, or before the
	// new one's first.
	inFlightBefore = 3 * time.Second
)

// stream invokes a workflow over and over, from streamWorkers clients,
// until finish, records every run, and watches the agents' restarts.
type stream struct {
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex // guards runs and restarts
	runs     []streamRun
	restarts []restart
}

type streamRun struct {
	at  time.Duration // since the stream started
	dur time.Duration
	err error
}

// restart is an agent process replaced by another: the old one answered
// last at from, the new one first at to (since the stream started).
type restart struct {
	host     string
	from, to time.Duration
}

// startStream starts the runs; they check every result as runFlow does.
func startStream(t *testing.T, entry, text string, want map[string]any) *stream {
	s := &stream{start: time.Now(), stop: make(chan struct{})}
	for range streamWorkers {
		c := client(t)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				select {
				case <-s.stop:
					return
				default:
				}
				t0 := time.Now()
				err := invokeFlow(c, entry, text, want)
				s.mu.Lock()
				s.runs = append(s.runs, streamRun{at: t0.Sub(s.start), dur: time.Since(t0), err: err})
				s.mu.Unlock()
				select {
				case <-s.stop:
					return
				case <-time.After(streamPause):
				}
			}
		}()
	}
	for _, ip := range invokerIPs {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watch(ip)
		}()
	}
	return s
}

// watch polls the agent of ip for its process start time and records
// every change as a restart.
func (s *stream) watch(ip string) {
	hc := &http.Client{Timeout: time.Second}
	var last float64     // start time of the agent that answered last
	var lastAt time.Time // when it last answered
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		st, ok := processStart(hc, ip)
		if !ok {
			continue
		}
		if last != 0 && st != last {
			s.mu.Lock()
			s.restarts = append(s.restarts, restart{host: ip, from: lastAt.Sub(s.start), to: now.Sub(s.start)})
			s.mu.Unlock()
		}
		last, lastAt = st, now
	}
}

// processStart reads process_start_time_seconds from the agent's metrics.
func processStart(hc *http.Client, ip string) (float64, bool) {
	resp, err := hc.Get("http://" + ip + ":9464/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_start_time_seconds "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// finish lets the runs go on for linger (past what they overlapped), stops
// them, waits for the last ones, and logs a summary. It fails the test when
// an agent did not restart while the runs were in flight, and for every
// failed run: a rolling upgrade fails no run in flight (docs/deploy.md
// "Upgrading wsk-route"). A failed run that was in flight at an agent's
// restart is named so.
func (s *stream) finish(t *testing.T, what string, linger time.Duration) {
	t.Helper()
	ended := time.Since(s.start)
	time.Sleep(linger)
	close(s.stop)
	s.wg.Wait()
	var durs []time.Duration
	var failed []streamRun
	atRestart, slow := 0, 0
	for _, r := range s.runs {
		durs = append(durs, r.dur)
		if r.dur > time.Second {
			slow++
		}
		if r.err != nil {
			failed = append(failed, r)
			if s.inFlightAtRestart(r) {
				atRestart++
			}
		}
	}
	if len(durs) == 0 {
		t.Fatalf("%s: no run in flight", what)
	}
	slices.Sort(durs)
	q := func(p float64) time.Duration { return durs[int(p*float64(len(durs)-1))].Round(time.Millisecond) }
	t.Logf("%s: %d runs in flight over %s (the playbook took %s): %d ok, %d failed (%d of them in flight at an agent's restart); run time p50 %s, p90 %s, p99 %s, max %s; %d over 1 s",
		what, len(s.runs), time.Since(s.start).Round(time.Second), ended.Round(time.Second),
		len(s.runs)-len(failed), len(failed), atRestart, q(0.5), q(0.9), q(0.99), q(1), slow)
	for _, r := range s.restarts {
		t.Logf("%s: the agent of %s restarted between +%s and +%s", what, r.host, r.from.Round(time.Millisecond), r.to.Round(time.Millisecond))
	}
	for _, ip := range invokerIPs {
		if !slices.ContainsFunc(s.restarts, func(r restart) bool { return r.host == ip }) {
			t.Errorf("%s: the agent of %s did not restart while runs were in flight", what, ip)
		}
	}
	for i, r := range failed {
		if i == 10 {
			t.Errorf("%s: ... and %d more failed runs", what, len(failed)-10)
			break
		}
		when := ""
		if s.inFlightAtRestart(r) {
			when = " (in flight at an agent's restart)"
		}
		t.Errorf("%s: the run started at +%s failed after %s%s: %v", what, r.at.Round(time.Millisecond), r.dur.Round(time.Millisecond), when, r.err)
	}
}

// inFlightAtRestart reports whether r started shortly before an agent's
// restart, or during it.
func (s *stream) inFlightAtRestart(r streamRun) bool {
	return slices.ContainsFunc(s.restarts, func(x restart) bool {
		return r.at >= x.from-inFlightBefore && r.at <= x.to
	})
}

// invokeFlow runs the workflow once and checks its result.
func invokeFlow(c *whisk.Client, entry, text string, want map[string]any) error {
	res, resp, err := c.Actions.Invoke(entry, map[string]any{"text": text}, true, true)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("%s: %w", resp.Status, err)
		}
		return err
	}
	r, ok := res.(map[string]any)
	if !ok {
		return fmt.Errorf("result %T %.300v", res, res)
	}
	for k, v := range want {
		if fmt.Sprint(r[k]) != fmt.Sprint(v) {
			return fmt.Errorf("%s = %.80v..., want %.80v...", k, r[k], v)
		}
	}
	return nil
}
