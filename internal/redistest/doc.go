// Package redistest starts real redis-server processes for tests — a
// single server or a Redis Cluster, chosen by MULEGATE_TEST_TOPOLOGY — on
// free loopback ports, and stops them (by PID) when the test ends. It is
// used only by tests and imports go-redis and the standard library.
package redistest
