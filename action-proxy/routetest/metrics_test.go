package routetest_test

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The proxies' hop counters reach the agent's Prometheus metrics.
func TestAgentMetricsCountHops(t *testing.T) {
	consul := startConsul(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	h := startHost(t, "h1", consul, "", "", nil, "-metrics-listen", metricsAddr)
	s := &sameHost{consul: consul, h: h, entry: startEntry(t, h, "", "")}
	startAction(t, h, "p-upper", "upper", "upper")
	startAction(t, h, "p-words", "words", "words")
	s.deploy(t, chainSpec("metrics", "upper", "words"))
	const runs = 5
	for i := 0; i < runs; i++ {
		if _, err := s.run(t, "metrics", `{"text":"count me"}`, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var body string
	waitFor(t, 10*time.Second, "hop counters in the agent's /metrics", func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		// upper -> words hops are sent by the upper proxy, entry -> upper by the entry
		// (whose stats this in-process plane also reports).
		return counter(body, `wsk_route_hops_total{action="/guest/words",transport="unix"}`) >= runs
	})
	for _, want := range []string{"wsk_route_hop_latency_seconds_bucket", "wsk_route_proxies", "wsk_route_instances"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// counter returns the value of the sample line that starts with series, or -1.
func counter(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
