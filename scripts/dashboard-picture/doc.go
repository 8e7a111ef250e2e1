// Command dashboard-picture draws a Grafana dashboard as an SVG picture
// from a real Prometheus, for the docs, where Grafana itself cannot run.
//
//	go run ./scripts/dashboard-picture -dashboard docs/observability/wsk-route-dashboard.json \
//	    -prometheus http://127.0.0.1:9090 -from 1765100000 -to 1765100300 -out dashboard.svg
//
// It reads the dashboard's JSON and, for every panel, in its place on
// Grafana's 24-column grid, evaluates each target's expr over [from, to]
// through Prometheus' HTTP API (/api/v1/query_range), as Grafana would
// with every template variable on "All": a query variable becomes its
// allValue (".*" when it has none), $__interval the step Grafana would
// choose for the panel's width, and $__rate_interval
// max($__interval + scrape interval, 4 × scrape interval). It draws what
// came back in Grafana's dark theme: rows, panel titles, time series with
// their axes in the panel's unit (fieldConfig.defaults.unit), the legend
// (legendFormat, and its table's calcs), stat values, and "No data" where
// a panel's queries returned nothing. It prints one line per panel (its
// series, or why it is empty) on stdout.
//
// The program is in two parts: everything but main.go and prom.go is
// pure (the dashboard model, variable substitution, the layout, axes and
// units, the SVG) and tested against fixed data; prom.go is the HTTP
// client. scripts/dashboard-picture.sh runs it after a real run of
// wsk-route dev (docs/observability.md, Grafana).
package main
