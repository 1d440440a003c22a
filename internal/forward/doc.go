// Package forward delivers accepted reports from the Redis outbox to the
// police core store: the relay workers (consumer groups, wake-ups, stale
// entry claims, retries with capped exponential backoff and jitter), the
// police store HTTP client that speaks the wire contract, and the circuit
// breaker (sony/gobreaker) whose trips are shared between gateway
// processes. It imports the domain, gobreaker and prometheus; Redis is
// reached only through the Outbox interface, which internal/store
// implements. gobreaker's errors never leave this package.
package forward
