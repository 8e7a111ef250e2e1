package invoker

import (
	"bufio"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// Sentinel is the line the proxy writes on stdout and on stderr at the end
// of every /run.
const Sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

// maxQueued bounds the bytes of log lines a stream keeps between
// activations; lines beyond it are dropped (the activation's own limit is
// at most 10 MB).
const maxQueued = 16 << 20

type logLine struct {
	t      time.Time
	stream string
	text   string
}

// lineQueue holds the lines one stream of a container wrote that no
// activation has taken yet. The reader goroutine pushes; one activation at
// a time takes. A queue with a sink keeps nothing: it hands every line
// but the sentinels to the sink, as a docker log driver ships a
// container's output elsewhere.
type lineQueue struct {
	stream string
	sink   func(logLine) // nil: lines are queued
	mu     sync.Mutex
	lines  []logLine
	size   int
	eof    bool
	notify chan struct{}
}

// newLineQueue returns the queue of a stream ("stdout" or "stderr"); with
// a sink, that of a container whose output no activation collects (sink
// is called from the stream's reader goroutine, one line at a time).
func newLineQueue(stream string, sink func(logLine)) *lineQueue {
	return &lineQueue{stream: stream, sink: sink, notify: make(chan struct{}, 1)}
}

func (q *lineQueue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *lineQueue) push(l logLine) {
	if q.sink != nil {
		if l.text != Sentinel {
			q.sink(l)
		}
		return
	}
	q.mu.Lock()
	if q.size+len(l.text) <= maxQueued {
		q.lines = append(q.lines, l)
		q.size += len(l.text)
	}
	q.mu.Unlock()
	q.signal()
}

func (q *lineQueue) close() {
	q.mu.Lock()
	q.eof = true
	q.mu.Unlock()
	q.signal()
}

// next returns the oldest line, waiting until deadline; ok is false at the
// deadline or at the end of the stream.
func (q *lineQueue) next(deadline time.Time) (logLine, bool) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		if len(q.lines) > 0 {
			l := q.lines[0]
			q.lines[0] = logLine{}
			q.lines = q.lines[1:]
			q.size -= len(l.text)
			q.mu.Unlock()
			return l, true
		}
		eof := q.eof
		q.mu.Unlock()
		if eof {
			return logLine{}, false
		}
		d := time.Until(deadline)
		if d <= 0 {
			return logLine{}, false
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-q.notify:
		case <-timer.C:
		}
	}
}

// untilSentinel takes the lines up to this activation's sentinel; found is
// false when it did not come before deadline.
func (q *lineQueue) untilSentinel(deadline time.Time) (lines []logLine, found bool) {
	for {
		l, ok := q.next(deadline)
		if !ok {
			return lines, false
		}
		if l.text == Sentinel {
			return lines, true
		}
		lines = append(lines, l)
	}
}

// untilEOF takes every line until the stream ends (the container is gone)
// or deadline, leaving out sentinels.
func (q *lineQueue) untilEOF(deadline time.Time) []logLine {
	var lines []logLine
	for {
		l, ok := q.next(deadline)
		if !ok {
			return lines
		}
		if l.text != Sentinel {
			lines = append(lines, l)
		}
	}
}

// readLines pushes every line of r to q, stamped with the time it was read
// or, with stamped, with the RFC 3339 time that prefixes it (docker logs
// -t), and closes q at the end of r.
func readLines(r io.Reader, q *lineQueue, stamped bool) {
	defer q.close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		s, err := br.ReadString('\n')
		if len(s) > 0 {
			s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
			t := time.Now()
			if stamped {
				if ts, rest, ok := strings.Cut(s, " "); ok {
					if pt, perr := time.Parse(time.RFC3339Nano, ts); perr == nil {
						t, s = pt, rest
					}
				}
			}
			q.push(logLine{t: t, stream: q.stream, text: s})
		}
		if err != nil {
			return
		}
	}
}

// formatLogs merges both streams' lines by time and formats them as
// OpenWhisk does ("<RFC 3339 UTC> stdout: text"), up to limitBytes, then
// the truncation line; incomplete adds OpenWhisk's collection-failure
// line.
func formatLogs(out, errs []logLine, limitBytes int, incomplete bool) []string {
	all := append(append([]logLine(nil), out...), errs...)
	sort.SliceStable(all, func(a, b int) bool { return all[a].t.Before(all[b].t) })
	logs := make([]string, 0, len(all)+1)
	size := 0
	for _, l := range all {
		size += len(l.text)
		if size > limitBytes {
			logs = append(logs, whisk.LogLine(time.Now(), "stderr", whisk.LogsTruncatedMessage(limitBytes)))
			return logs
		}
		logs = append(logs, whisk.LogLine(l.t, l.stream, l.text))
	}
	if incomplete {
		logs = append(logs, whisk.LogLine(time.Now(), "stderr", whisk.MsgLogsIncomplete))
	}
	return logs
}
