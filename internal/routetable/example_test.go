package routetable_test

import (
	"fmt"
	"time"

	"github.com/wsk-route/wsk-route/internal/routetable"
)

func Example() {
	clock := time.Unix(0, 0)
	t := routetable.New(routetable.Config{
		Host: "host1",
		Now:  func() time.Time { return clock },
		Rand: func() uint64 { return 0 },
	})
	t.Replace([]routetable.Instance{
		{ID: "host1/a", Action: "/guest/resize", Host: "host1", Unix: "unix:/run/wsk-route/a.sock"},
		{ID: "host1/b", Action: "/guest/resize", Host: "host1", Unix: "unix:/run/wsk-route/b.sock"},
		{ID: "host2/c", Action: "/guest/resize", Host: "host2", TCP: "tcp:10.0.0.2:7070"},
	})

	// The sender accounts for each hop; a is faster than b.
	t.Begin("host1/a")
	t.End("host1/a", 2*time.Millisecond, true)
	t.Begin("host1/b")
	t.End("host1/b", 5*time.Millisecond, true)

	dst := make([]routetable.Instance, 0, 4)
	for _, in := range t.Candidates("/guest/resize", nil, dst) {
		fmt.Println(in.ID)
	}

	// a refuses as busy: it sinks below b (but stays before other hosts)
	// until the penalty expires. c was already tried for this hop.
	t.Penalize("host1/a")
	for _, in := range t.Candidates("/guest/resize", []string{"host2/c"}, dst[:0]) {
		fmt.Println("retry:", in.ID)
	}
	clock = clock.Add(routetable.DefaultBusyPenalty)
	fmt.Println("later:", t.Candidates("/guest/resize", nil, dst[:0])[0].ID)
	// Output:
	// host1/a
	// host1/b
	// host2/c
	// retry: host1/b
	// retry: host1/a
	// later: host1/a
}
