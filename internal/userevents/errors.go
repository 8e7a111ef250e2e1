package userevents

import "errors"

// ErrBadEvent is wrapped by the errors of Parse, Check and MarshalJSON: the
// event is not one OpenWhisk's user-events service would take.
var ErrBadEvent = errors.New("userevents: bad event")

// ErrNoBrokers is returned by NewPublisher and NewConsumer for a Config
// without brokers.
var ErrNoBrokers = errors.New("userevents: no Kafka brokers configured")
