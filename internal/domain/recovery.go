package domain

// RecoveryState is where a funds recovery is (SPEC Part 3, "Funds
// recovery"): requested, then held, then returned; or rejected, or
// released by its requester (or by the report's cancellation).
type RecoveryState string

// The recovery states.
const (
	RecoveryRequested RecoveryState = "requested"
	RecoveryHeld      RecoveryState = "held"
	RecoveryReturned  RecoveryState = "returned"
	RecoveryRejected  RecoveryState = "rejected"
	RecoveryReleased  RecoveryState = "released"
)

// Final says whether no further step can follow.
func (s RecoveryState) Final() bool {
	return s == RecoveryReturned || s == RecoveryRejected || s == RecoveryReleased
}
