package storebolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

// The file's layout, format 3. Every bucket is top-level; composite keys put an ID or a
// workspace first as a length-prefixed string (pfx), so that one ID's keys are a
// contiguous range that no other ID's keys can enter, and times as 8 big-endian bytes
// (tkey), so that keys sort by time. A delivery's seq comes from the log bucket's
// sequence: the order deliveries were stored, which breaks ties of time.
//
//	meta          "magic", "version", "figures" (overall store.Figures as JSON)
//	subs          subID -> subRecord JSON
//	subs_seq      seq -> subID                               (creation order, for listing)
//	ws_subs       pfx(ws) seq -> subID                       (one workspace's, in creation order)
//	patterns      pfx(ws) pfx(pattern) subID -> status, policy, seq   (fan-out lookup)
//	ws_figures    pfx(ws) -> store.Figures JSON              (named workspaces; deleted subscriptions included)
//	events        eventID -> event (header JSON + raw data)
//	bare_events   tkey(occurred) eventID                     (events that never had a delivery)
//	deliveries    dlvID -> dlvRecord (with its attempts; binary, see encodeDelivery, or JSON)
//	queue         pfx(subID) tkey(due) seq dlvID             (pending, by NextAttemptAt)
//	due_subs      tkey(due) seq subID                        (each subscription's first queue key)
//	open          pfx(subID) 'p'|'h' tkey(created) dlvID     (pending and held per subscription)
//	done          tkey(updated) dlvID                        (finished, by age, for pruning)
//	done_sub      pfx(subID) seq -> dlvID                    (finished per subscription, oldest first)
//	log           tkey(created) seq -> dlvID                 (every delivery, by creation)
//	log_ws        pfx(ws) tkey(created) seq -> dlvID         (named workspaces)
//	log_sub       pfx(subID) tkey(created) seq -> dlvID
//	log_event     pfx(eventID) tkey(created) seq -> dlvID
//	log_state     state tkey(created) seq -> dlvID
//	log_ws_state  pfx(ws) state tkey(created) seq -> dlvID   (named workspaces)
//	log_sub_state pfx(subID) state tkey(created) seq -> dlvID
//	counts        subID -> pending, held                     (big-endian int64s)
//	fin_counts    subID -> finished                          (one big-endian int64; deleted subscriptions too)
//	figures       subID -> store.Figures JSON
//	used_links    the portal's used sign-in links: made at the first UseLink, so not in
//	              every file of format 3 (see bUsedLinks)
//
// The default workspace has no keys in log_ws, log_ws_state and ws_figures: no query
// selects it alone (an empty workspace selects every one: log, log_state and the overall
// figures serve it), so they would be written on every delivery and never read.
// Leases are not in the file: see leaseTable.
//
// Format 2 had a leases bucket (pfx(subID) tkey(lease end) dlvID), a lease end in the
// records of deliveries in flight and their queue keys at it, a third counter (leased)
// in counts, and the default workspace's keys in log_ws, log_ws_state and ws_figures;
// migrate2 clears those.
//
// Format 1 (before workspaces) had no ws_subs, ws_figures, queue, due_subs, log_ws,
// log_state, log_ws_state, log_sub_state; its patterns had no workspace, its leases were
// keyed by delivery ID, one due bucket held every pending delivery, and its log buckets
// were keyed by seq alone. migrate rebuilds those from the records, which are the same.
var (
	bMeta        = []byte("meta")
	bSubs        = []byte("subs")
	bSubsSeq     = []byte("subs_seq")
	bWsSubs      = []byte("ws_subs")
	bPatterns    = []byte("patterns")
	bWsFigures   = []byte("ws_figures")
	bEvents      = []byte("events")
	bBare        = []byte("bare_events")
	bDlvs        = []byte("deliveries")
	bQueue       = []byte("queue")
	bDueSubs     = []byte("due_subs")
	bLeasesV2    = []byte("leases") // format 2's
	bOpen        = []byte("open")
	bDone        = []byte("done")
	bDoneSub     = []byte("done_sub")
	bLog         = []byte("log")
	bLogWs       = []byte("log_ws")
	bLogSub      = []byte("log_sub")
	bLogEvent    = []byte("log_event")
	bLogState    = []byte("log_state")
	bLogWsState  = []byte("log_ws_state")
	bLogSubState = []byte("log_sub_state")
	bCounts      = []byte("counts")
	bFinCounts   = []byte("fin_counts")
	bFigures     = []byte("figures")

	// allBuckets are the buckets in the order of txn's accessors (see bucket).
	allBuckets = [nBuckets][]byte{
		bMeta, bSubs, bSubsSeq, bWsSubs, bPatterns, bWsFigures, bEvents, bBare, bDlvs, bQueue,
		bDueSubs, bOpen, bDone, bDoneSub, bLog, bLogWs, bLogSub, bLogEvent, bLogState,
		bLogWsState, bLogSubState, bCounts, bFinCounts, bFigures,
	}

	// appendOnly marks dlvs, done_sub and log (see appendFill).
	appendOnly = [nBuckets]bool{8: true, 13: true, 14: true}

	keyMagic   = []byte("magic")
	keyVersion = []byte("version")
	keyFigures = []byte("figures")
)

// nBuckets is the number of buckets of the layout.
const nBuckets = 24

const (
	// magic marks a file as this package's.
	magic = "shophooks/webhook store"
	// formatVersion is the layout above. A file of version 1 or 2 is migrated at Open; a
	// file of any other version is refused.
	formatVersion = 3
)

// Open-index states.
const (
	openPending = 'p'
	openHeld    = 'h'
)

var empty = []byte{}

// pfx is id with its length in front: no pfx is a prefix of another.
func pfx(id string) []byte {
	b := binary.AppendUvarint(make([]byte, 0, len(id)+2), uint64(len(id)))
	return append(b, id...)
}

// splitPfx splits a key that starts with a pfx into the ID and the rest.
func splitPfx(k []byte) (id string, rest []byte, ok bool) {
	n, w := binary.Uvarint(k)
	if w <= 0 || uint64(len(k)-w) < n {
		return "", nil, false
	}
	return string(k[w : w+int(n)]), k[w+int(n):], true
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// cat joins key parts into a new slice.
func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

var (
	minNano = time.Unix(0, math.MinInt64+1)
	maxNano = time.Unix(0, math.MaxInt64)
)

// tkey encodes t in 8 bytes that sort as t does. The zero time sorts first; times beyond
// what int64 nanoseconds hold are clamped.
func tkey(t time.Time) []byte { return appendTkey(make([]byte, 0, 8), t) }

// appendTkey appends tkey(t) to b.
func appendTkey(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	var n int64
	switch {
	case t.Before(minNano):
		n = math.MinInt64 + 1
	case t.After(maxNano):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(n)^1<<63)
}

// tdecode is the inverse of tkey.
func tdecode(b []byte) time.Time {
	u := binary.BigEndian.Uint64(b)
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(u^1<<63)).UTC()
}

// subRecord is a stored subscription: the value and its creation order.
type subRecord struct {
	store.Subscription
	Seq uint64 `json:"seq"`
}

// dlvRecord is a stored delivery: the value and its place in the log.
type dlvRecord struct {
	store.Delivery
	Seq uint64 `json:"seq"`
}

// clone returns a copy that shares nothing a change of it could reach.
func (r *dlvRecord) clone() *dlvRecord {
	c := *r
	c.Delivery = r.Delivery.Clone()
	return &c
}

// eventHeader is an event without its data, which is stored after it byte for byte.
type eventHeader struct {
	ID         string    `json:"id"`
	Workspace  string    `json:"workspace,omitempty"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurred_at"`
}

// headerOf is the header of ev as decoding its encoding gives it back (strings that are
// valid UTF-8, the time as its JSON text parses), false if that may differ.
func headerOf(ev store.Event) (*eventHeader, bool) {
	if !utf8.ValidString(ev.ID) || !utf8.ValidString(ev.Workspace) || !utf8.ValidString(ev.Type) {
		return nil, false
	}
	at, err := time.Parse(time.RFC3339Nano, string(ev.OccurredAt.AppendFormat(nil, time.RFC3339Nano)))
	if err != nil {
		return nil, false
	}
	return &eventHeader{ID: ev.ID, Workspace: ev.Workspace, Type: ev.Type, OccurredAt: at}, true
}

func encodeEvent(ev store.Event) ([]byte, error) {
	hdr, err := json.Marshal(eventHeader{ID: ev.ID, Workspace: ev.Workspace, Type: ev.Type, OccurredAt: ev.OccurredAt})
	if err != nil {
		return nil, err
	}
	b := binary.AppendUvarint(make([]byte, 0, len(hdr)+len(ev.Data)+2), uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, ev.Data...), nil
}

// splitEvent splits a stored event into its header (JSON) and its data.
func splitEvent(b []byte) (hdr, data []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, errors.New("corrupt record")
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// decodeEventShared is decodeEvent with the data left in b, the header decoded through
// cache (under the event's ID) when there is one.
func decodeEventShared(b []byte, cache *decodeCache[*eventHeader], id string) (store.Event, error) {
	hb, data, err := splitEvent(b)
	if err != nil {
		return store.Event{}, err
	}
	h, ok := cache.get(id, hb)
	if !ok {
		h = new(eventHeader)
		if err := json.Unmarshal(hb, h); err != nil {
			return store.Event{}, fmt.Errorf("corrupt record: %w", err)
		}
		if h.ID == id {
			cache.put(id, hb, h)
		}
	}
	ev := store.Event{ID: h.ID, Workspace: h.Workspace, Type: h.Type, OccurredAt: h.OccurredAt}
	if len(data) > 0 {
		ev.Data = data
	}
	return ev, nil
}

// txn is a transaction with this layout's buckets at hand.
type txn struct {
	tx *bolt.Tx
	bk [nBuckets]*bolt.Bucket // see bucket

	// figCache holds the figures read in this transaction, decoded once however many
	// attempts of it change them, and written once by flush.
	figCache map[figKey]*cachedFigures
	// ctrs and dueBefore hold the counters and due_subs moves of the subscriptions whose
	// deliveries this transaction moved, written once by flush (see counters, queueMoves).
	ctrs      map[string]*subCounters
	dueBefore map[string][]byte // each one's first queue key before the transaction
	// subCache holds the subscriptions read or written in this transaction, decoded once.
	subCache map[string]*subRecord

	// leaseTab is the store's lease table, set only in transactions whose caller holds its
	// lock (claims and Store.exclusive); afterCommit are the changes to it that such a
	// transaction makes once it has committed.
	leaseTab    *leaseTable
	afterCommit []func(*leaseTable)
	dropped     map[string]bool // leases dropped by this transaction

	dec *decoders // the store's decode caches; nil decodes every time
}

type figKey struct {
	b   *bolt.Bucket
	key string
}

type cachedFigures struct {
	f     store.Figures
	dirty bool
}

// figures returns the figures kept under key in b, for this transaction to read and,
// with changed, to change.
func (t *txn) figures(b *bolt.Bucket, key []byte, changed bool) (*store.Figures, error) {
	k := figKey{b, string(key)}
	c := t.figCache[k]
	if c == nil {
		f, err := t.figuresOf(b, key)
		if err != nil {
			return nil, err
		}
		if t.figCache == nil {
			t.figCache = make(map[figKey]*cachedFigures)
		}
		c = &cachedFigures{f: *f}
		if t.tx.Writable() {
			c.f = cloneFigures(f) // the shared one stays as it is
		}
		t.figCache[k] = c
	}
	c.dirty = c.dirty || changed
	return &c.f, nil
}

// forgetFigures removes the figures under key in b, and any change made to them.
func (t *txn) forgetFigures(b *bolt.Bucket, key []byte) error {
	delete(t.figCache, figKey{b, string(key)})
	return b.Delete(key)
}

// flush writes the figures, counters and due_subs keys this transaction changed. Every
// write transaction that saves deliveries or changes figures calls it before it commits.
func (t *txn) flush() error {
	if err := t.flushCounters(); err != nil {
		return err
	}
	if err := t.flushDueSubs(); err != nil {
		return err
	}
	for k, c := range t.figCache {
		if c.dirty {
			raw, err := json.Marshal(c.f)
			if err != nil {
				return err
			}
			if err := k.b.Put([]byte(k.key), raw); err != nil {
				return err
			}
			f := cloneFigures(&c.f)
			t.dec.figures.put(t.figCacheKey(k.b, []byte(k.key)), raw, &f)
			c.dirty = false
		}
	}
	return nil
}

// appendFill is the fill percent of the buckets whose keys only grow (sequences, creation
// times, and delivery IDs, which are time-ordered): their pages split nearly full instead
// of half full. Buckets with keys that arrive out of order (caller-chosen event IDs, due
// times) keep bbolt's default, which suits them better.
const appendFill = 0.9

func newTxn(tx *bolt.Tx) *txn { return &txn{tx: tx} }

// bucket returns the i-th of allBuckets, looked up at its first use in the transaction
// (a claim uses 6 of the 24).
func (t *txn) bucket(i int) *bolt.Bucket {
	if b := t.bk[i]; b != nil {
		return b
	}
	b := t.tx.Bucket(allBuckets[i])
	if b != nil && t.tx.Writable() && appendOnly[i] {
		b.FillPercent = appendFill
	}
	t.bk[i] = b
	return b
}

// The buckets, by their index in allBuckets.
func (t *txn) meta() *bolt.Bucket        { return t.bucket(0) }
func (t *txn) subs() *bolt.Bucket        { return t.bucket(1) }
func (t *txn) subsSeq() *bolt.Bucket     { return t.bucket(2) }
func (t *txn) wsSubs() *bolt.Bucket      { return t.bucket(3) }
func (t *txn) patterns() *bolt.Bucket    { return t.bucket(4) }
func (t *txn) wsFigures() *bolt.Bucket   { return t.bucket(5) }
func (t *txn) events() *bolt.Bucket      { return t.bucket(6) }
func (t *txn) bare() *bolt.Bucket        { return t.bucket(7) }
func (t *txn) dlvs() *bolt.Bucket        { return t.bucket(8) }
func (t *txn) queue() *bolt.Bucket       { return t.bucket(9) }
func (t *txn) dueSubs() *bolt.Bucket     { return t.bucket(10) }
func (t *txn) open() *bolt.Bucket        { return t.bucket(11) }
func (t *txn) done() *bolt.Bucket        { return t.bucket(12) }
func (t *txn) doneSub() *bolt.Bucket     { return t.bucket(13) }
func (t *txn) log() *bolt.Bucket         { return t.bucket(14) }
func (t *txn) logWs() *bolt.Bucket       { return t.bucket(15) }
func (t *txn) logSub() *bolt.Bucket      { return t.bucket(16) }
func (t *txn) logEvent() *bolt.Bucket    { return t.bucket(17) }
func (t *txn) logState() *bolt.Bucket    { return t.bucket(18) }
func (t *txn) logWsState() *bolt.Bucket  { return t.bucket(19) }
func (t *txn) logSubState() *bolt.Bucket { return t.bucket(20) }
func (t *txn) counts() *bolt.Bucket      { return t.bucket(21) }
func (t *txn) finCounts() *bolt.Bucket   { return t.bucket(22) }
func (t *txn) figs() *bolt.Bucket        { return t.bucket(23) }

// sub returns the subscription with that ID, nil if there is none. Within a transaction
// it is decoded once: a change to it must be stored with putSub.
func (t *txn) sub(id string) (*subRecord, error) {
	if r, ok := t.subCache[id]; ok {
		return r, nil
	}
	raw := t.subs().Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	r, ok := t.decSubs().get(id, raw)
	if !ok {
		r = new(subRecord)
		if err := json.Unmarshal(raw, r); err != nil {
			return nil, fmt.Errorf("storebolt: subscription %q: %w", id, corrupt("%v", err))
		}
		t.decSubs().put(id, raw, r)
	}
	if t.tx.Writable() {
		r = cloneSub(r) // the shared one stays as it is
	}
	t.cacheSub(r)
	return r, nil
}

func (t *txn) cacheSub(r *subRecord) {
	if t.subCache == nil {
		t.subCache = make(map[string]*subRecord)
	}
	t.subCache[r.ID] = r
}

func (t *txn) putSub(r *subRecord) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("storebolt: subscription %q: %w", r.ID, err)
	}
	t.cacheSub(r)
	return t.subs().Put([]byte(r.ID), raw)
}

// deleteSubRecord removes a subscription's record.
func (t *txn) deleteSubRecord(id string) error {
	delete(t.subCache, id)
	return t.subs().Delete([]byte(id))
}

// patternValue is what the patterns index keeps of a subscription: what InsertEvent
// needs to fan out without reading the subscription.
func patternValue(r *subRecord) []byte {
	status, policy := byte('a'), byte('d')
	if r.Status != store.StatusActive {
		status = 'i'
	}
	if r.WhileInactive == store.InactiveHold {
		policy = 'h'
	}
	return append([]byte{status, policy}, u64(r.Seq)...)
}

// patternKey is the patterns index key of one of r's patterns.
func patternKey(r *subRecord, pattern string) []byte {
	return cat(pfx(r.Workspace), pfx(pattern), []byte(r.ID))
}

func (t *txn) putPatterns(r *subRecord) error {
	v := patternValue(r)
	for _, p := range r.Events {
		if err := t.patterns().Put(patternKey(r, p), v); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) deletePatterns(r *subRecord) error {
	for _, p := range r.Events {
		if err := t.patterns().Delete(patternKey(r, p)); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) delivery(id string) (*dlvRecord, error) {
	raw := t.dlvs().Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	return decodeDelivery(id, raw)
}

func (t *txn) event(id string) (*store.Event, error) {
	ev, err := t.eventShared(id)
	if ev != nil && len(ev.Data) > 0 {
		ev.Data = bytes.Clone(ev.Data) // the tx's memory is gone once it ends
	}
	return ev, err
}

// eventShared is event with its data in the transaction's memory: valid until the
// transaction ends, and not to be changed.
func (t *txn) eventShared(id string) (*store.Event, error) {
	raw := t.events().Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	ev, err := decodeEventShared(raw, t.decEvents(), id)
	if err != nil {
		return nil, fmt.Errorf("storebolt: event %q: %w", id, err)
	}
	return &ev, nil
}

func (t *txn) decEvents() *decodeCache[*eventHeader] {
	if t.dec == nil {
		return nil
	}
	return &t.dec.events
}

// figuresOf reads the figures kept under key in b (zero figures when there are none). The
// answer may be shared with the decode cache: it must not be changed.
func (t *txn) figuresOf(b *bolt.Bucket, key []byte) (*store.Figures, error) {
	raw := b.Get(key)
	if raw == nil {
		return &store.Figures{}, nil
	}
	ck := t.figCacheKey(b, key)
	if f, ok := t.decFigures().get(ck, raw); ok {
		return f, nil
	}
	f := new(store.Figures)
	if err := json.Unmarshal(raw, f); err != nil {
		return nil, fmt.Errorf("storebolt: figures %q: corrupt record: %w", key, err)
	}
	t.decFigures().put(ck, raw, f)
	return f, nil
}

// figCacheKey is the decode cache's key of the figures under key in b.
func (t *txn) figCacheKey(b *bolt.Bucket, key []byte) string {
	tag := byte('s') // per subscription
	switch b {
	case t.meta():
		tag = 'o' // overall
	case t.wsFigures():
		tag = 'w' // per workspace
	}
	return string(append([]byte{tag}, key...))
}

func (t *txn) decSubs() *decodeCache[*subRecord] {
	if t.dec == nil {
		return nil
	}
	return &t.dec.subs
}

func (t *txn) decFigures() *decodeCache[*store.Figures] {
	if t.dec == nil {
		return nil
	}
	return &t.dec.figures
}

// hasPrefix reports whether some key of b starts with prefix.
func hasPrefix(b *bolt.Bucket, prefix []byte) bool {
	k, _ := b.Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}
