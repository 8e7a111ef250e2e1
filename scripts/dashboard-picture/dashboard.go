package main

import (
	"encoding/json"
	"fmt"
)

// Dashboard is the part of a Grafana dashboard's JSON model the picture
// uses.
type Dashboard struct {
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Variable is one of the dashboard's template variables.
type Variable struct {
	Name       string `json:"name"`
	Label      string `json:"label"`
	Type       string `json:"type"` // query, custom, constant, datasource, interval, ...
	IncludeAll bool   `json:"includeAll"`
	// AllValue is what "All" becomes in a query; "": Grafana joins every
	// value into a regex, which the picture replaces with ".*".
	AllValue string `json:"allValue"`
	// Query is a constant's value (a query variable's query is an object
	// or a string; the picture does not run it).
	Query json.RawMessage `json:"query"`
}

// GridPos is a panel's place on Grafana's grid: 24 columns, rows of
// gridUnit pixels.
type GridPos struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Panel is a dashboard panel; a row panel's Panels are those it hides
// while collapsed.
type Panel struct {
	ID          int     `json:"id"`
	Type        string  `json:"type"`
	Title       string  `json:"title"`
	Description string  `json:"description"`
	GridPos     GridPos `json:"gridPos"`
	Collapsed   bool    `json:"collapsed"`
	Panels      []Panel `json:"panels"`
	FieldConfig struct {
		Defaults struct {
			Unit     string   `json:"unit"`
			Decimals *int     `json:"decimals"`
			Min      *float64 `json:"min"`
			Max      *float64 `json:"max"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Options struct {
		Legend struct {
			DisplayMode string   `json:"displayMode"` // list, table, hidden
			Placement   string   `json:"placement"`
			Calcs       []string `json:"calcs"`
			ShowLegend  *bool    `json:"showLegend"`
		} `json:"legend"`
		ReduceOptions struct {
			Calcs []string `json:"calcs"`
		} `json:"reduceOptions"`
	} `json:"options"`
	Targets []Target `json:"targets"`
}

// Target is one query of a panel.
type Target struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
	Hide         bool   `json:"hide"`
	Instant      bool   `json:"instant"`
}

// ParseDashboard reads a dashboard's JSON model, either bare or wrapped
// as Grafana's API returns it ({"dashboard": {...}}).
func ParseDashboard(data []byte) (*Dashboard, error) {
	var wrapped struct {
		Dashboard *Dashboard `json:"dashboard"`
	}
	if err := json.Unmarshal(data, &wrapped); err == nil && wrapped.Dashboard != nil {
		return wrapped.Dashboard, nil
	}
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if len(d.Panels) == 0 {
		return nil, fmt.Errorf("dashboard: no panels")
	}
	return &d, nil
}

// LegendShown says whether a panel draws a legend.
func (p *Panel) LegendShown() bool {
	l := p.Options.Legend
	if l.ShowLegend != nil && !*l.ShowLegend {
		return false
	}
	return l.DisplayMode != "hidden"
}
