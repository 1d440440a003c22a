package store

import "github.com/redis/go-redis/v9"

// The scripts (lua/*.lua, their libraries in lua/lib) and their argument
// structs (lua.go says how the two are tied). Every script's KEYS are
// listed in its file; the structs below are its ARGV.
var (
	claimKeyScript       = newScript("claim_key", nil, claimKeyArgs{})
	claimReportScript    = newScript("claim_report", []string{"lib/record", "lib/claim"}, claimReportArgs{})
	acceptScript         = newScript("accept", []string{"lib/record", "lib/trim", "lib/accept"}, acceptArgs{})
	acceptManyScript     = newScript("accept_many", []string{"lib/record", "lib/trim", "lib/claim", "lib/accept"}, claimReportArgs{}, acceptArgs{})
	pruneScript          = newScript("prune", []string{"lib/record", "lib/trim"}, pruneArgs{})
	changeScript         = newScript("change", []string{"lib/record"}, changeArgs{})
	markerScript         = newScript("marker", []string{"lib/record", "lib/words"}, markerArgs{})
	finishScript         = newScript("finish", []string{"lib/record", "lib/consumed"}, finishArgs{})
	doneScript           = newScript("done", []string{"lib/consumed"}, doneArgs{})
	holdScript           = newScript("hold", []string{"lib/record"}, holdArgs{})
	dropConsumerScript   = newScript("drop_consumer", nil, dropConsumerArgs{})
	parkScript           = newScript("park", []string{"lib/record", "lib/consumed"}, parkArgs{})
	requeueScript        = newScript("requeue", []string{"lib/record"}, requeueArgs{})
	postAlertScript      = newScript("post_alert", []string{"lib/feed"}, postAlertArgs{})
	appendEventScript    = newScript("append_event", []string{"lib/feed"}, appendEventArgs{})
	thresholdScript      = newScript("threshold", nil)
	dayWritesScript      = newScript("day_writes", nil, dayWritesArgs{})
	streamsScript        = newScript("streams", nil, streamsArgs{})
	earlierPendingScript = newScript("earlier_pending", nil, earlierPendingArgs{})
)

var allScripts = []*redis.Script{claimKeyScript, claimReportScript, acceptScript, acceptManyScript, pruneScript,
	changeScript, markerScript, finishScript, doneScript, holdScript, dropConsumerScript, parkScript, requeueScript,
	postAlertScript, appendEventScript, thresholdScript, dayWritesScript, streamsScript, earlierPendingScript, childrenScript, upstreamScript,
	sourceWordScript, bookWordsScript, clearScript, unclearScript}

// claimKeyArgs: an idempotent alert's claim (Store.claim).
type claimKeyArgs struct {
	Fingerprint string `lua:"fingerprint"` // the request's keyed fingerprint
	Value       string `lua:"value"`       // what the record keeps (the alert's bank)
	TTL         int64  `lua:"ttl"`         // s
}

func (a claimKeyArgs) argv() []any { return argvOf(a) }

// claimReportArgs: intake's claim (claim_report, and each report of
// accept_many).
type claimReportArgs struct {
	ID       string `lua:"id"`        // raw report id
	Entry    string `lua:"entry"`     // Store.claimValue
	FirstDay int64  `lua:"first_day"` // the first day still remembered
	TTL      int64  `lua:"ttl"`       // the bucket's, s
}

func (a claimReportArgs) argv() []any { return argvOf(a) }

// acceptArgs: intake's accept (accept, and each report of accept_many).
type acceptArgs struct {
	ID            string `lua:"id"`   // raw report id
	Head          string `lua:"head"` // the record's fields before n
	Mid           string `lua:"mid"`  // between n and the holder
	Tail          string `lua:"tail"` // after the holder
	Now           int64  `lua:"now"`  // ms
	Cutoff        int64  `lua:"cutoff"`
	TTL           int64  `lua:"ttl"`         // s
	Sealed        string `lua:"sealed"`      // the IBAN sealed for the book
	Body          string `lua:"body"`        // the police body, sealed
	Wake          string `lua:"wake"`        // the wake channel
	Partition     int    `lua:"partition"`   // published on it
	Holder        string `lua:"holder"`      // the holding bank ("" for none)
	RespondBy     int64  `lua:"respond_by"`  // the holder's deadline, ms (0: none)
	IndexEntry    string `lua:"index_entry"` // the report index entry (day + pseudonym)
	IndexFirstDay int64  `lua:"index_first_day"`
	BookPrefix    string `lua:"book_prefix"` // the partition's book key prefix, for prune
	Pseudonym     string `lua:"pseudonym"`   // hex
	ReportID      string `lua:"report_id"`   // hex
	TraceParent   string `lua:"traceparent"` // the request's ("")
	Chain         string `lua:"chain"`       // a linked report's k:<id>: its source and root ids (raw, 16 bytes each), then the root's reporter; "" for hop 0
	Source        string `lua:"source"`      // a linked report's source id (hex), for its outbox entry
}

func (a acceptArgs) argv() []any { return argvOf(a) }

// pruneArgs: one report index bucket's pass (Store.Prune).
type pruneArgs struct {
	FirstDay   int64  `lua:"first_day"` // the first day kept
	Cutoff     int64  `lua:"cutoff"`    // ms
	BookPrefix string `lua:"book_prefix"`
}

func (a pruneArgs) argv() []any { return argvOf(a) }

// changeArgs: a change to a report (Store.Review, Store.Recover).
type changeArgs struct {
	ID        string `lua:"id"`        // raw report id
	Expected  string `lua:"expected"`  // the record as read
	Record    string `lua:"record"`    // the record to write
	Uncounted int    `lua:"uncounted"` // change of the not-cancelled count (0 or -1)
	Now       int64  `lua:"now"`       // ms
	Entries   string `lua:"entries"`   // the outbox entries, a JSON list of field/value lists
	Wake      string `lua:"wake"`
	Partition int    `lua:"partition"`
	Fields    []any  `lua:"fields"` // the report's own fields: name, value ("" deletes)
}

func (a changeArgs) argv() []any { return argvOf(a) }

// markerArgs: a marker change (Store.ChangeMarker).
type markerArgs struct {
	Expected  string `lua:"expected"` // registration ms ("" for none)
	Now       int64  `lua:"now"`
	TTL       int64  `lua:"ttl"`
	Holder    string `lua:"holder"` // "" for no feed entry
	Event     string `lua:"event"`  // the event type
	Subject   string `lua:"subject"`
	Body      string `lua:"body"` // sealed
	Wake      string `lua:"wake"`
	Partition int    `lua:"partition"`
	Pseudo    string `lua:"pseudo"` // the book's pseudonym, for its reports' chain words
	Fields    []any  `lua:"fields"` // m:* name, value; none: lift
}

func (a markerArgs) argv() []any { return argvOf(a) }

// finishArgs: a final outcome (Store.finish).
type finishArgs struct {
	Group      string `lua:"group"`
	Entry      string `lua:"entry"`  // stream entry id
	Status     string `lua:"status"` // a status code, or "event"
	Ref        string `lua:"ref"`    // police reference
	At         int64  `lua:"at"`     // forwarded, ms
	Error      string `lua:"error"`
	ReportID   string `lua:"report_id"`
	Body       string `lua:"body"` // a rejected report's, sealed
	TTL        int64  `lua:"ttl"`
	OtherGroup string `lua:"other_group"`
	ID         string `lua:"id"` // raw report id
}

func (a finishArgs) argv() []any { return argvOf(a) }

// doneArgs: the holders' relay is done with an entry.
type doneArgs struct {
	Group      string `lua:"group"`
	Entry      string `lua:"entry"`
	OtherGroup string `lua:"other_group"`
}

func (a doneArgs) argv() []any { return argvOf(a) }

// holdArgs: renew a claim, maybe with a failed attempt (Store.Hold).
type holdArgs struct {
	Group    string `lua:"group"`
	Entry    string `lua:"entry"`
	Consumer string `lua:"consumer"`
	Error    string `lua:"error"` // "" to only renew the claim
	ID       string `lua:"id"`    // raw report id
}

func (a holdArgs) argv() []any { return argvOf(a) }

// dropConsumerArgs: drop an idle consumer.
type dropConsumerArgs struct {
	Group    string `lua:"group"`
	Consumer string `lua:"consumer"`
}

func (a dropConsumerArgs) argv() []any { return argvOf(a) }

// parkArgs: park a rejected report's event (Store.ParkEvent).
type parkArgs struct {
	Group      string `lua:"group"`
	Entry      string `lua:"entry"`
	ID         string `lua:"id"` // raw report id
	ReportID   string `lua:"report_id"`
	EventKey   string `lua:"event_key"`
	Body       string `lua:"body"` // sealed
	OtherGroup string `lua:"other_group"`
	Event      string `lua:"event"`
	TTL        int64  `lua:"ttl"`
}

func (a parkArgs) argv() []any { return argvOf(a) }

// requeueArgs: put a rejected report back (Store.Requeue).
type requeueArgs struct {
	ReportID  string `lua:"report_id"`
	Wake      string `lua:"wake"`
	Partition int    `lua:"partition"`
	ID        string `lua:"id"`        // raw report id
	Pseudonym string `lua:"pseudonym"` // hex
}

func (a requeueArgs) argv() []any { return argvOf(a) }

// postAlertArgs: an alert and its alert.created event (Store.PostAlert).
type postAlertArgs struct {
	AlertID     string `lua:"alert_id"`
	Idempotent  string `lua:"idempotent"` // "1" or "0"
	MinID       string `lua:"min_id"`     // the alerts' retention, ms
	TTL         int64  `lua:"ttl"`
	Channel     string `lua:"channel"`
	Bank        string `lua:"bank"`
	EventID     string `lua:"event_id"`
	EventData   string `lua:"event_data"` // sealed
	EventsMinID string `lua:"events_min_id"`
	EventsTTL   int64  `lua:"events_ttl"`
	Now         int64  `lua:"now"`
	EventsMax   int64  `lua:"events_max"`
	Entry       []any  `lua:"entry"` // the alert's field/value pairs
}

func (a postAlertArgs) argv() []any { return argvOf(a) }

// appendEventArgs: an event for a bank's feed (Store.AppendEvent).
type appendEventArgs struct {
	EventID string `lua:"event_id"`
	MinID   string `lua:"min_id"` // the events' retention, ms
	Type    string `lua:"type"`
	Data    string `lua:"data"`    // sealed
	Created int64  `lua:"created"` // ms
	TTL     int64  `lua:"ttl"`
	Channel string `lua:"channel"`
	Bank    string `lua:"bank"`
	Now     int64  `lua:"now"`
	MaxLen  int64  `lua:"max_len"`
	// A report.received that opens a review: the raw report id ("" for
	// none), its deadline (ms), and the due set's trims and TTL.
	DueID      string `lua:"due_id"`
	DueBy      int64  `lua:"due_by"`
	DueGone    string `lua:"due_gone"`    // open reviews of reports past retention
	ClosedGone string `lua:"closed_gone"` // closed reviews past the event retention
	DueTTL     int64  `lua:"due_ttl"`
}

func (a appendEventArgs) argv() []any { return argvOf(a) }

// dayWritesArgs: an org's writes of a day (Store.AllowDay).
type dayWritesArgs struct {
	Cost  int `lua:"cost"`
	Limit int `lua:"limit"`
}

func (a dayWritesArgs) argv() []any { return argvOf(a) }

// streamsArgs: a stream slot (Store.HoldStream).
type streamsArgs struct {
	Now      int64  `lua:"now"`
	Slot     string `lua:"slot"`
	LeaseEnd int64  `lua:"lease_end"`
	Limit    int    `lua:"limit"`
}

func (a streamsArgs) argv() []any { return argvOf(a) }

// earlierPendingArgs: the feed order gate (order.go).
type earlierPendingArgs struct {
	Group    string `lua:"group"`
	Entry    string `lua:"entry"`
	ReportID string `lua:"report_id"`
}

func (a earlierPendingArgs) argv() []any { return argvOf(a) }
