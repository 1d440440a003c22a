// Package policesim simulates the police core store for development,
// tests and benchmarks. It speaks the wire contract of the product spec
// (idempotent POST /reports keyed by Idempotency-Key, 201 new, 200 with
// the same police_reference for a repeat), checks that callers send
// exactly the contract's fields, records what it received, and injects
// faults switchable at run time: down (connections dropped), slow, a 5xx
// error rate and 4xx rejections. Admin endpoints live under /_sim/. It is
// never imported by the core packages.
package policesim
