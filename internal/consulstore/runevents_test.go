package consulstore_test

import (
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/registrytest"
)

func TestRunEventsContract(t *testing.T) {
	conv := contract{}.Conventions()
	registrytest.RunEvents(t, conv, consulstore.MinRunRetention, func(t *testing.T, retention time.Duration) registrytest.RunEventStore {
		_, opts := newStore(t)
		opts.RunRetention = retention
		return openStore(t, opts)
	})
}

func TestRunRetentionRefused(t *testing.T) {
	if _, err := consulstore.New(consulstore.Options{RunRetention: time.Second}); err == nil {
		t.Error("New with a 1 s run retention succeeded, want an error naming the minimum")
	}
}
