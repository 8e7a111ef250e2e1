package proxyconn

import (
	"encoding/json"
	"maps"
	"reflect"
	"testing"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
)

func insts(in ...routetable.Instance) map[string]routetable.Instance {
	m := make(map[string]routetable.Instance)
	for _, i := range in {
		m[i.ID] = i
	}
	return m
}

func TestDiffTable(t *testing.T) {
	a := routetable.Instance{ID: "h/a", Namespace: "ns", Action: "/ns/a"}
	b := routetable.Instance{ID: "h/b", Namespace: "ns", Action: "/ns/b"}
	b2 := b
	b2.Concurrency = 4
	tests := []struct {
		name      string
		cur, sent map[string]routetable.Instance
		full      bool
		want      *agentproto.Table
	}{
		{name: "first snapshot of nothing", cur: insts(), sent: insts(), full: true, want: &agentproto.Table{Full: true}},
		{name: "first snapshot", cur: insts(b, a), sent: insts(), full: true, want: &agentproto.Table{Full: true, Upsert: []routetable.Instance{a, b}}},
		{name: "unchanged", cur: insts(a, b), sent: insts(a, b), want: nil},
		{name: "new", cur: insts(a, b), sent: insts(a), want: &agentproto.Table{Upsert: []routetable.Instance{b}}},
		{name: "changed", cur: insts(a, b2), sent: insts(a, b), want: &agentproto.Table{Upsert: []routetable.Instance{b2}}},
		{name: "gone", cur: insts(a), sent: insts(a, b), want: &agentproto.Table{Remove: []string{"h/b"}}},
		{name: "all gone", cur: nil, sent: insts(a, b), want: &agentproto.Table{Remove: []string{"h/a", "h/b"}}},
		{name: "snapshot drops gone", cur: insts(a), sent: insts(b), full: true, want: &agentproto.Table{Full: true, Upsert: []routetable.Instance{a}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diffTable(tt.cur, tt.sent, tt.full)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if !maps.Equal(tt.cur, tt.sent) {
				t.Fatalf("sent is %v after the diff, want %v", tt.sent, tt.cur)
			}
		})
	}
}

func TestDiffSpecs(t *testing.T) {
	sd := func(wf string, v uint64) agentproto.SpecData {
		return agentproto.SpecData{Workflow: wf, Version: v, Spec: json.RawMessage(`{}`)}
	}
	specs := func(in ...agentproto.SpecData) map[string]agentproto.SpecData {
		m := make(map[string]agentproto.SpecData)
		for _, s := range in {
			m[s.Workflow] = s
		}
		return m
	}
	tests := []struct {
		name      string
		cur, sent map[string]agentproto.SpecData
		full      bool
		want      *agentproto.Specs
	}{
		{name: "first snapshot", cur: specs(sd("b", 2), sd("a", 1)), sent: specs(), full: true, want: &agentproto.Specs{Full: true, Upsert: []agentproto.SpecData{sd("a", 1), sd("b", 2)}}},
		{name: "unchanged", cur: specs(sd("a", 1)), sent: specs(sd("a", 1)), want: nil},
		{name: "new version", cur: specs(sd("a", 3)), sent: specs(sd("a", 1)), want: &agentproto.Specs{Upsert: []agentproto.SpecData{sd("a", 3)}}},
		{name: "deleted", cur: specs(), sent: specs(sd("a", 1)), want: &agentproto.Specs{Remove: []string{"a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diffSpecs(tt.cur, tt.sent, tt.full)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if !maps.EqualFunc(tt.cur, tt.sent, sameSpec) {
				t.Fatalf("sent is %v after the diff, want %v", tt.sent, tt.cur)
			}
		})
	}
}
