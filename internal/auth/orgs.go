package auth

import (
	"sort"

	"strings"
	"sync/atomic"

	"github.com/mulegate/mulegate/internal/domain"
)

// Scope is one permission. Scopes are a bit set so that the per-request
// check is a single AND.
type Scope uint16

const (
	ScopeIBANsRead Scope = 1 << iota
	ScopeReportsWrite
	ScopeReportsRead
	ScopeAlertsRead
	ScopeAlertsWrite
	ScopeEventsRead
	ScopeReportsReview
	ScopeMarkersWrite
	ScopeAuditRead
	ScopeRecoveriesWrite
	ScopeChainsWrite
	ScopeChainsRead
	ScopeIBANsStatus
	ScopeIBANsClear
)

var scopeNames = []struct {
	s    Scope
	name string
}{
	{ScopeIBANsRead, "ibans:read"},
	{ScopeReportsWrite, "reports:write"},
	{ScopeReportsRead, "reports:read"},
	{ScopeAlertsRead, "alerts:read"},
	{ScopeAlertsWrite, "alerts:write"},
	{ScopeEventsRead, "events:read"},
	{ScopeReportsReview, "reports:review"},
	{ScopeMarkersWrite, "markers:write"},
	{ScopeAuditRead, "audit:read"},
	{ScopeRecoveriesWrite, "recoveries:write"},
	{ScopeChainsWrite, "chains:write"},
	{ScopeChainsRead, "chains:read"},
	{ScopeIBANsStatus, "ibans:status"},
	{ScopeIBANsClear, "ibans:clear"},
}

// String lists the scopes space-separated, as in a token's scope claim.
func (s Scope) String() string {
	var parts []string
	for _, n := range scopeNames {
		if s&n.s != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, " ")
}

// Has reports whether every scope in want is in s.
func (s Scope) Has(want Scope) bool { return s&want == want }

// ParseScopes parses space-separated scope names; unknown names are
// ignored, as OAuth resource servers do.
func ParseScopes(names ...string) Scope {
	var out Scope
	for _, field := range names {
		for _, name := range strings.Fields(field) {
			for _, n := range scopeNames {
				if n.name == name {
					out |= n.s
				}
			}
		}
	}
	return out
}

// TypeScopes is what each organisation type may ever do. A token can never
// grant more than its organisation's type allows.
var TypeScopes = map[domain.OrgType]Scope{
	domain.OrgBank: ScopeIBANsRead | ScopeReportsWrite | ScopeReportsRead | ScopeAlertsRead |
		ScopeEventsRead | ScopeReportsReview | ScopeMarkersWrite | ScopeRecoveriesWrite | ScopeChainsWrite | ScopeChainsRead |
		ScopeIBANsStatus,
	domain.OrgMarketplace: ScopeIBANsRead | ScopeReportsWrite | ScopeReportsRead | ScopeEventsRead,
	domain.OrgPolice: ScopeIBANsRead | ScopeReportsWrite | ScopeReportsRead | ScopeAlertsWrite |
		ScopeMarkersWrite | ScopeAuditRead | ScopeChainsRead | ScopeIBANsClear,
}

// Org is a registered organisation.
type Org struct {
	ID   string
	Type domain.OrgType
	// BankCodes lists, per country code, the bank identifiers this org
	// holds accounts under; alerts about those IBANs are routed to it.
	BankCodes map[string][]string
	// CertSubjects, when not empty, are the only client certificate names
	// its tokens are accepted over: "cn:NAME" (a bare name too), "dns:NAME"
	// or "uri:URI", each matched only against a name of its type.
	CertSubjects []string
	// Limits are its rate limits (its type's, with its own overrides).
	Limits domain.Limits
}

// Orgs is the organisation registry, keyed by org id.
type Orgs map[string]Org

// IDs returns the org ids, sorted.
func (o Orgs) IDs() []string {
	ids := make([]string, 0, len(o))
	for id := range o {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Registry holds the organisation registry and lets a configuration
// reload swap it while requests are being verified.
type Registry struct{ p atomic.Pointer[Orgs] }

// NewRegistry makes a registry holding orgs.
func NewRegistry(orgs Orgs) *Registry {
	r := &Registry{}
	r.Swap(orgs)
	return r
}

// Get returns the org with this id.
func (r *Registry) Get(id string) (Org, bool) {
	o, ok := (*r.p.Load())[id]
	return o, ok
}

// Banks lists the registered bank org ids, sorted.
func (r *Registry) Banks() []string {
	var out []string
	for _, id := range r.p.Load().IDs() {
		if o, _ := r.Get(id); o.Type == domain.OrgBank {
			out = append(out, id)
		}
	}
	return out
}

// Swap replaces the whole registry.
func (r *Registry) Swap(orgs Orgs) { r.p.Store(&orgs) }
