package store

import (
	"context"
	"errors"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/redis/go-redis/v9"
)

// op names a family of store operations: the label of
// mulegate_redis_errors_total{op}, a closed set so that the metric stays
// bounded whatever the error text.
type op string

// Ops are the operation labels OnError is called with.
var Ops = []string{string(opAccept), string(opLookup), string(opReport), string(opAlerts), string(opOutbox),
	string(opBreaker), string(opPing), string(opLimits), string(opPrune)}

const (
	opAccept  op = "accept"
	opLookup  op = "lookup"
	opReport  op = "report"
	opAlerts  op = "alerts"
	opOutbox  op = "outbox"
	opBreaker op = "breaker"
	opPing    op = "ping"
	opLimits  op = "limits"
	opPrune   op = "prune" // retiring reports past retention (Store.Prune)
)

// fail is the store's one error flow. A domain error passes through. A
// Redis that cannot answer right now (connection refused or reset, a
// timeout, LOADING, READONLY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN) is
// unavailable: 503, and the client retries. Anything else Redis says (a
// script bug, WRONGTYPE, a syntax error) is our fault: internal, 500,
// with what (which names the script or command) kept for the log.
func (s *conn) fail(label op, what string, err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	if s.OnError != nil {
		s.OnError(string(label))
	}
	if !retryable(err) {
		return domain.Internal("store: "+what, err)
	}
	// After a failover go-redis keeps sending a slot's commands to the dead
	// master until its slot map is refreshed (on MOVED, or every 10 s);
	// a dead master answers no MOVED, so ask for the refresh now. It is
	// asynchronous and de-duplicated by go-redis.
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		cc.ReloadState(context.Background())
	}
	return domain.Unavailable("store: "+what, err)
}

// retryable says whether a retry may cure err: anything that is not an
// answer from Redis (the connection, a timeout, a closed client), and the
// answers of a Redis that is starting, failing over or read-only.
func retryable(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true
	}
	return redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsTryAgainError(err) ||
		redis.IsClusterDownError(err) || redis.IsMasterDownError(err)
}
