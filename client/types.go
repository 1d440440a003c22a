package client

import "time"

// The API's types, written for Go callers: one Go type per idea (one
// FraudType, one OrgType), Go names (IBAN, ReportID), and values rather
// than pointers wherever an absent field and its zero value mean the
// same. TestTypesFollowTheContract checks every one of them, field by
// field and enum by enum, against api/openapi.yaml.
//
// Request types need no pointers: optional fields are omitted when they
// hold their zero value (omitempty, omitzero).

// Ptr returns a pointer to v, for the few fields where absent and zero
// differ (ReviewOptions.Overdue, Recovery.Partial).
func Ptr[T any](v T) *T { return &v }

// Amount is a money amount: Value is a positive decimal string with at
// most the currency's minor digits ("249.95"); Currency an ISO 4217 code
// ("EUR"). The gateway normalises it to exactly the currency's minor
// digits ("249.9" EUR comes back as "249.90").
type Amount struct {
	Value    string `json:"value"`
	Currency string `json:"currency"`
}

// IsZero reports whether a is the zero Amount (no amount).
func (a Amount) IsZero() bool { return a == Amount{} }

// CurrencySums are exact sums per ISO 4217 currency, each a decimal string
// with the currency's minor digits ({"EUR": "249.95"}).
type CurrencySums map[string]string

// Category is what kind of fraud a report is about.
type Category string

// The report categories.
const (
	CategoryHelpdeskFraud    Category = "helpdesk_fraud"
	CategoryMarketplaceFraud Category = "marketplace_fraud"
	CategoryPhishing         Category = "phishing"
	CategoryInvestmentFraud  Category = "investment_fraud"
	CategoryRomanceFraud     Category = "romance_fraud"
	CategoryMoneyMule        Category = "money_mule"
	CategoryRansomware       Category = "ransomware"
	CategoryOther            Category = "other"
)

// FraudType is what a holder found an account to be when it closed a
// report agreed, and what a marker says of an IBAN.
type FraudType string

// The fraud types.
const (
	FraudMuleAccount     FraudType = "mule_account"
	FraudScammerAccount  FraudType = "scammer_account"
	FraudAccountTakeover FraudType = "account_takeover"
	FraudOther           FraudType = "other"
)

// OrgType is what kind of organisation a caller is.
type OrgType string

// The organisation types.
const (
	OrgBank        OrgType = "bank"
	OrgMarketplace OrgType = "marketplace"
	OrgPolice      OrgType = "police"
)

// Risk is a lookup's rating of an IBAN.
type Risk string

// The risk levels, lowest first.
const (
	RiskNone   Risk = "none"
	RiskLow    Risk = "low"
	RiskMedium Risk = "medium"
	RiskHigh   Risk = "high"
)

// AccountStatus is what the bank that holds an IBAN says of the account.
type AccountStatus string

// The account statuses a holding bank can set.
const (
	// StatusCollectionAccount is a payment provider's account that
	// unrelated payers use: its risk is capped at low unless a marker or
	// a confirmed report.
	StatusCollectionAccount AccountStatus = "collection_account"
	StatusAccountClosed     AccountStatus = "account_closed"
	StatusTakenOver         AccountStatus = "taken_over"
)

// ClearReason is why the police cleared an IBAN.
type ClearReason string

// The clear reasons. Only a clear made in ClearError can be withdrawn.
const (
	ClearCourtRuling         ClearReason = "court_ruling"
	ClearProsecutorDecision  ClearReason = "prosecutor_decision"
	ClearInvestigationClosed ClearReason = "investigation_closed"
	ClearError               ClearReason = "error"
	// ClearWithdrawn is not a reason to clear: an iban.corrected event
	// carries it when a clear made in error was withdrawn.
	ClearWithdrawn ClearReason = "clear_withdrawn"
)

// Lookup is what the gateway knows about an IBAN (GET /v1/ibans/{iban}).
// A field the gateway's view for the caller's organisation type leaves out
// (views.<type>.omit; a marketplace gets no BySource nor Marker.ByType by
// default) reads as its zero value.
type Lookup struct {
	IBAN     string `json:"iban"`
	Country  string `json:"country,omitempty"`
	BankCode string `json:"bank_code,omitempty"`
	// ReportCount is the distinct accepted reports that count: within the
	// retention, not cancelled, not cleared.
	ReportCount       int            `json:"report_count"`
	ReporterCount     int            `json:"reporter_count"`
	ReportsLast30Days int            `json:"reports_last_30_days"`
	ByCategory        map[string]int `json:"by_category,omitempty"`
	BySource          map[string]int `json:"by_source,omitempty"`
	FirstReportedAt   *time.Time     `json:"first_reported_at,omitempty"`
	LastReportedAt    *time.Time     `json:"last_reported_at,omitempty"`
	Risk              Risk           `json:"risk,omitempty"`
	// RiskReasons name every rule whose condition holds: marker,
	// confirmed, linked_to_confirmed, reporters>=N, count>=N,
	// all_disputed, then collection_account when that cap lowered Risk.
	RiskReasons []string `json:"risk_reasons,omitempty"`
	// Score is a confidence from 0 to 100 that decays with the reports'
	// age (a marker makes it 100).
	Score          int           `json:"score"`
	Review         *ReviewCounts `json:"review,omitempty"`
	CancelledCount int           `json:"cancelled_count"`
	Stats          *Stats        `json:"stats,omitempty"`
	Amounts        *Amounts      `json:"amounts,omitempty"`
	Recovered      CurrencySums  `json:"recovered,omitempty"`
	Chain          *ChainSummary `json:"chain,omitempty"`
	Marker         *LookupMarker `json:"marker,omitempty"`
	HolderStatus   *LookupStatus `json:"holder_status,omitempty"`
	Cleared        *LookupClear  `json:"cleared,omitempty"`
	ClearedCount   int           `json:"cleared_count"`
	Watermark      *time.Time    `json:"watermark,omitempty"`
}

// ReviewCounts are a lookup's counted reports by their holder's review.
type ReviewCounts struct {
	Open      int `json:"open"`      // open or acknowledged
	Confirmed int `json:"confirmed"` // closed agreed
	Disputed  int `json:"disputed"`  // closed disagreed
}

// WindowStats are the counted reports and distinct reporting
// organisations of one window.
type WindowStats struct {
	Reports   int `json:"reports"`
	Reporters int `json:"reporters"`
}

// Stats are a lookup's counts by acceptance time.
type Stats struct {
	D7   WindowStats `json:"d7"`
	D30  WindowStats `json:"d30"`
	D90  WindowStats `json:"d90"`
	D365 WindowStats `json:"d365"`
}

// Amounts are a lookup's exact sums of the counted reports' amounts, per
// window and currency.
type Amounts struct {
	D7   CurrencySums `json:"d7"`
	D30  CurrencySums `json:"d30"`
	D90  CurrencySums `json:"d90"`
	D365 CurrencySums `json:"d365"`
}

// ChainSummary is what a lookup says of the IBAN's linked reports (onward
// transfers a holder reported).
type ChainSummary struct {
	LinkedReports int  `json:"linked_reports"`
	MinHop        *int `json:"min_hop"` // nil: no linked report
	// ConfirmedUpstream: one linked report's source is confirmed (closed
	// agreed by its holder, or its IBAN marked): the IBAN is one hop from
	// a confirmed mule.
	ConfirmedUpstream bool `json:"confirmed_upstream"`
}

// LookupMarker is a lookup's marker.
type LookupMarker struct {
	FraudType    FraudType `json:"fraud_type"`
	ByType       OrgType   `json:"by_type,omitempty"` // police or bank
	RegisteredAt time.Time `json:"registered_at"`
}

// LookupStatus is a lookup's holder status.
type LookupStatus struct {
	Status AccountStatus `json:"status"`
	Since  time.Time     `json:"since"`
}

// LookupClear says the police cleared the IBAN: reports accepted before
// At no longer count. Reason is police information (a marketplace's view
// leaves it out by default).
type LookupClear struct {
	At     time.Time   `json:"at"`
	Reason ClearReason `json:"reason,omitempty"`
}

// BatchResult is one IBAN's answer in a batch: a Lookup, or an Error for
// an invalid entry (the batch still answers the others).
type BatchResult struct {
	Lookup *Lookup
	Error  *BatchError
}

// BatchError is a batch entry the gateway could not look up.
type BatchError struct {
	IBAN  string `json:"iban"` // the entry exactly as given
	Error struct {
		Code   string `json:"code"` // invalid_iban
		Detail string `json:"detail"`
	} `json:"error"`
}

// ReportRequest is a report of an IBAN (POST /v1/reports).
type ReportRequest struct {
	IBAN       string    `json:"iban"`
	Category   Category  `json:"category"`
	OccurredAt time.Time `json:"occurred_at,omitzero"` // not in the future
	Amount     Amount    `json:"amount,omitzero"`
	// Reference is your own case id (≤ 128 characters); Description at
	// most 2,000 characters, shown to the holding bank.
	Reference   string `json:"reference,omitempty"`
	Description string `json:"description,omitempty"`
}

// Accepted is the 202 answer to a report.
type Accepted struct {
	ReportID    string `json:"report_id"`
	Status      string `json:"status"` // queued
	IBAN        string `json:"iban"`   // normalised
	ReportCount int    `json:"report_count"`
}

// ForwardingStatus is where a report is on its way to the police.
type ForwardingStatus string

// The forwarding statuses.
const (
	ReportQueued    ForwardingStatus = "queued"
	ReportForwarded ForwardingStatus = "forwarded"
	ReportRejected  ForwardingStatus = "rejected" // the police store refused it (400, 422)
)

// ReportStatus is a report as its reporter, its holder or the police see
// it (GET /v1/reports/{id}, and the answer to every review action).
type ReportStatus struct {
	ReportID        string           `json:"report_id"`
	Status          ForwardingStatus `json:"status"`
	Attempts        int              `json:"attempts"`
	ReceivedAt      time.Time        `json:"received_at"`
	ForwardedAt     *time.Time       `json:"forwarded_at"`     // nil until forwarded
	PoliceReference *string          `json:"police_reference"` // nil until forwarded
	LastError       *string          `json:"last_error"`       // why the last attempt failed
	Review          Review           `json:"review"`
	// Shown to the holder only.
	IBAN        string `json:"iban,omitempty"`
	Category    string `json:"category,omitempty"`
	ReporterOrg string `json:"reporter_org,omitempty"`
	// Amount is absent (zero) when the reporter gave none.
	Amount   Amount    `json:"amount,omitzero"`
	Recovery *Recovery `json:"recovery,omitempty"`
	// A linked report's place in its chain (empty and 0 for hop 0).
	SourceReportID string `json:"source_report_id,omitempty"`
	RootReportID   string `json:"root_report_id,omitempty"`
	Hop            int    `json:"hop,omitempty"`
}

// ReviewState is where a report's review by its holder is.
type ReviewState string

// The review states: open → acknowledged → closed, or open → closed; the
// reporter may cancel from any state; Unrouted: no registered bank holds
// the IBAN.
const (
	ReviewOpen         ReviewState = "open"
	ReviewAcknowledged ReviewState = "acknowledged"
	ReviewClosed       ReviewState = "closed"
	ReviewCancelled    ReviewState = "cancelled"
	ReviewUnrouted     ReviewState = "unrouted"
)

// ReviewResult is a holder's verdict when it closes a report.
type ReviewResult string

// The review results.
const (
	ResultAgreed    ReviewResult = "agreed"
	ResultDisagreed ReviewResult = "disagreed"
)

// Review is a report's review by the bank that holds its IBAN.
type Review struct {
	State          ReviewState  `json:"state"`
	HolderOrg      string       `json:"holder_org,omitempty"`
	RespondBy      *time.Time   `json:"respond_by,omitempty"`
	AcknowledgedAt *time.Time   `json:"acknowledged_at,omitempty"`
	ClosedAt       *time.Time   `json:"closed_at,omitempty"`
	Result         ReviewResult `json:"result,omitempty"`
	FraudType      FraudType    `json:"fraud_type,omitempty"`
	CancelledAt    *time.Time   `json:"cancelled_at,omitempty"`
	Overdue        bool         `json:"overdue"` // open or acknowledged past RespondBy
}

// CloseRequest closes a report: Agreed with a FraudType, or Disagreed
// without one; Details at most 2,000 characters.
type CloseRequest struct {
	Result    ReviewResult `json:"result"`
	FraudType FraudType    `json:"fraud_type,omitempty"`
	Details   string       `json:"details,omitempty"`
}

// CancelRequest withdraws a report (Reason at most 500 characters).
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Transfer is where some of a report's money went on: a linked report.
type Transfer struct {
	IBAN   string    `json:"iban"`
	Amount Amount    `json:"amount"`
	At     time.Time `json:"at"` // when the money left; not in the future
}

// LinkedReport is a report made from a Transfer.
type LinkedReport struct {
	ReportID  string `json:"report_id"`
	IBAN      string `json:"iban"`
	Hop       int    `json:"hop"`
	HolderOrg string `json:"holder_org,omitempty"` // "": no registered bank holds it
	Status    string `json:"status"`               // queued
}

// OnwardAnswer is the answer to ReportOnward: one linked report per
// transfer, in order.
type OnwardAnswer struct {
	Reports []LinkedReport `json:"reports"`
}

// Chain is the chain a report belongs to, from its root, breadth-first.
type Chain struct {
	RootReportID string        `json:"root_report_id"`
	Reports      []ChainReport `json:"reports"`
}

// ChainReport is one report of a chain. A bank that neither filed nor
// holds it sees Country instead of the IBAN and the orgs.
type ChainReport struct {
	ReportID       string `json:"report_id"`
	SourceReportID string `json:"source_report_id,omitempty"`
	Hop            int    `json:"hop"`
	IBAN           string `json:"iban,omitempty"`
	Country        string `json:"country,omitempty"`
	HolderOrg      string `json:"holder_org,omitempty"`
	ReporterOrg    string `json:"reporter_org,omitempty"`
	Amount         Amount `json:"amount,omitzero"`
	Review         struct {
		State  ReviewState  `json:"state"`
		Result ReviewResult `json:"result,omitempty"`
	} `json:"review"`
	Recovery *ChainRecovery `json:"recovery,omitempty"`
}

// ChainRecovery is a chain report's recovery, in short.
type ChainRecovery struct {
	State     RecoveryState `json:"state"`
	Requested Amount        `json:"requested,omitzero"`
	Held      Amount        `json:"held,omitzero"`
	Returned  Amount        `json:"returned,omitzero"`
}

// RecoveryState is where a funds recovery is.
type RecoveryState string

// The recovery states: requested → held → returned, or rejected by the
// holder, or released by the requester.
const (
	RecoveryRequested RecoveryState = "requested"
	RecoveryHeld      RecoveryState = "held"
	RecoveryReturned  RecoveryState = "returned"
	RecoveryRejected  RecoveryState = "rejected"
	RecoveryReleased  RecoveryState = "released"
)

// RejectReason is why a holder rejects a recovery.
type RejectReason string

// The reject reasons.
const (
	RejectNoBalance     RejectReason = "no_balance"
	RejectAccountClosed RejectReason = "account_closed"
	RejectNotFraud      RejectReason = "not_fraud"
	RejectFundsMoved    RejectReason = "funds_moved"
	RejectOther         RejectReason = "other"
)

// Recovery is a report's funds recovery (SPEC Part 3, modelled on MED).
type Recovery struct {
	State       RecoveryState `json:"state"`
	RequestedBy string        `json:"requested_by"`
	Requested   Amount        `json:"requested"`
	Held        Amount        `json:"held,omitzero"`
	Returned    Amount        `json:"returned,omitzero"`
	Details     string        `json:"details,omitempty"`
	Payment     *Payment      `json:"payment,omitempty"`
	ReturnTo    string        `json:"return_to,omitempty"` // shown to the holder only
	RequestedAt time.Time     `json:"requested_at"`
	HoldBy      time.Time     `json:"hold_by"`
	AnswerBy    time.Time     `json:"answer_by"`
	HeldAt      *time.Time    `json:"held_at,omitempty"`
	ReturnedAt  *time.Time    `json:"returned_at,omitempty"`
	RejectedAt  *time.Time    `json:"rejected_at,omitempty"`
	ReleasedAt  *time.Time    `json:"released_at,omitempty"`
	// Reason is the reject reason, or why the recovery was released.
	Reason          string `json:"reason,omitempty"`
	RejectDetails   string `json:"reject_details,omitempty"`
	ReturnReference string `json:"return_reference,omitempty"`
	// Partial, once returned: less came back than was requested.
	Partial     *bool `json:"partial,omitempty"`
	OverdueHold bool  `json:"overdue_hold"` // requested past HoldBy
	Overdue     bool  `json:"overdue"`      // not final past AnswerBy
}

// Payment identifies the payment, so the holder can find the money.
type Payment struct {
	EndToEndID string `json:"end_to_end_id,omitempty"`
	UETR       string `json:"uetr,omitempty"`
	ValueDate  string `json:"value_date,omitempty"` // YYYY-MM-DD
}

// RecoveryRequest asks the holder to block and return a report's money.
type RecoveryRequest struct {
	Amount   Amount   `json:"amount"`
	Details  string   `json:"details,omitempty"`
	Payment  *Payment `json:"payment,omitempty"`
	ReturnTo string   `json:"return_to,omitempty"` // the victim's account, where the money goes back
}

// RecoveryReturn says what the holder returned.
type RecoveryReturn struct {
	Amount    Amount `json:"amount"`
	Reference string `json:"reference,omitempty"` // ≤ 128 characters
}

// RecoveryReject says why the holder cannot return the money.
type RecoveryReject struct {
	Reason  RejectReason `json:"reason"`
	Details string       `json:"details,omitempty"`
}

// recoveryAmount is the body of a hold.
type recoveryAmount struct {
	Amount Amount `json:"amount"`
}

// Severity is how urgent a police alert is.
type Severity string

// The alert severities.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// AlertRequest is a police alert about an IBAN, for the bank that holds
// it (POST /v1/alerts).
type AlertRequest struct {
	IBAN      string    `json:"iban"`
	Severity  Severity  `json:"severity"`
	Message   string    `json:"message"`             // 1-2,000 characters
	Reference string    `json:"reference"`           // the police case id, 1-128 characters
	ExpiresAt time.Time `json:"expires_at,omitzero"` // in the future; zero: never
}

// PostedAlert is the answer to PostAlert: which bank it went to.
type PostedAlert struct {
	AlertID   string    `json:"alert_id"`
	BankOrg   string    `json:"bank_org"`
	CreatedAt time.Time `json:"created_at"`
}

// Alert is a police alert in a bank's alert feed, and the data of an
// alert.created event (without Cursor).
type Alert struct {
	AlertID   string     `json:"alert_id"`
	IBAN      string     `json:"iban"`
	Severity  Severity   `json:"severity"`
	Message   string     `json:"message"`
	Reference string     `json:"reference"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Cursor    string     `json:"cursor,omitempty"`
}

// Marker is an IBAN's marker as PUT answers it.
type Marker struct {
	IBAN         string    `json:"iban"`
	FraudType    FraudType `json:"fraud_type"`
	ByType       OrgType   `json:"by_type"`
	ByOrg        string    `json:"by_org"`
	RegisteredAt time.Time `json:"registered_at"`
	Details      string    `json:"details,omitempty"`
}

// markerRequest is the body of PutMarker.
type markerRequest struct {
	FraudType FraudType `json:"fraud_type"`
	Details   string    `json:"details,omitempty"`
}

// OrgLookups is one org's lookups of an IBAN.
type OrgLookups struct {
	Org     string    `json:"org"`
	OrgType OrgType   `json:"org_type"`
	Lookups int64     `json:"lookups"`
	FirstAt time.Time `json:"first_at"`
	LastAt  time.Time `json:"last_at"`
}

// Limits are the caller's rate limit policies.
type Limits struct {
	Org      string   `json:"org"`
	OrgType  OrgType  `json:"org_type"`
	Policies []Policy `json:"policies"`
}

// PolicyName names a rate limit policy.
type PolicyName string

// The rate limit policies: lookups (single and batch) and writes
// (everything else that changes something).
const (
	PolicyLookups PolicyName = "lookups"
	PolicyWrites  PolicyName = "writes"
)

// Policy is one rate limit policy and what is left of it.
type Policy struct {
	Name         PolicyName `json:"name"`
	PerSecond    int64      `json:"per_second"`
	Burst        int64      `json:"burst"`
	Remaining    int64      `json:"remaining"`
	ResetSeconds int64      `json:"reset_seconds"`
}

// ProblemCode is a problem answer's machine-readable code.
type ProblemCode string

// The problem codes. Compare with Code(err).
const (
	CodeInvalidRequest         ProblemCode = "invalid_request"
	CodeInvalidIBAN            ProblemCode = "invalid_iban"
	CodeUnroutableIBAN         ProblemCode = "unroutable_iban"
	CodeUnauthenticated        ProblemCode = "unauthenticated"
	CodeTokenExpired           ProblemCode = "token_expired"
	CodeTokenNotBound          ProblemCode = "token_not_bound"
	CodeForbidden              ProblemCode = "forbidden"
	CodeNotFound               ProblemCode = "not_found"
	CodeMethodNotAllowed       ProblemCode = "method_not_allowed"
	CodeInvalidState           ProblemCode = "invalid_state"
	CodeIdempotencyKeyRequired ProblemCode = "idempotency_key_required"
	CodeIdempotencyConflict    ProblemCode = "idempotency_conflict"
	CodePayloadTooLarge        ProblemCode = "payload_too_large"
	CodeUnsupportedMediaType   ProblemCode = "unsupported_media_type"
	CodeRateLimited            ProblemCode = "rate_limited"
	CodeStoreUnavailable       ProblemCode = "store_unavailable"
	CodeInternal               ProblemCode = "internal"
)

// Problem is a problem answer's body (RFC 9457).
type Problem struct {
	Type     string      `json:"type"`
	Title    string      `json:"title"`
	Status   int         `json:"status"`
	Detail   string      `json:"detail"`
	Instance string      `json:"instance"`
	Code     ProblemCode `json:"code"`
}

// onwardRequest is the body of ReportOnward.
type onwardRequest struct {
	Transfers []Transfer `json:"transfers"`
}
