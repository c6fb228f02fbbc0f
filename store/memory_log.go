package store

import (
	"math"
	"slices"
	"sort"
	"time"
)

// The memory store's delivery log: one logList for every delivery, one per workspace and
// one per subscription ID, each in insertion order (the order of Delivery.seq). A list is
// cut into blocks of logBlock entries, and a segment tree over the blocks summarises each
// range: the states present, the range of creation times, and the oldest pending delivery.
// A query walks from its cursor towards older entries and jumps over every range whose
// summary cannot match (no delivery in the wanted state, or created outside Since/Until),
// so a page costs about the same whatever the list holds besides the rows it answers.

const (
	logShift = 5
	logBlock = 1 << logShift
)

// stateBit is the bit of a state in a summary's mask; 0 for anything else (a pruned
// delivery is in no state).
func stateBit(s DeliveryState) uint8 {
	switch s {
	case DeliveryPending:
		return 1
	case DeliveryHeld:
		return 2
	case DeliverySucceeded:
		return 4
	case DeliveryFailed:
		return 8
	case DeliveryCancelled:
		return 16
	}
	return 0
}

// anyState is the mask of every state.
const anyState = 31

// finalStates is the mask of the states Final reports.
const finalStates = 4 | 8 | 16

// timeKey maps a time to an int64 that orders like the time (nanoseconds since 1970,
// clamped to the range an int64 holds). It only prunes ranges: rows are compared exactly.
func timeKey(t time.Time) int64 {
	switch {
	case t.Year() < 1679:
		return math.MinInt64 + 1
	case t.Year() > 2261:
		return math.MaxInt64 - 1
	}
	return t.UnixNano()
}

// summary describes a range of a list's live entries.
type summary struct {
	minT, maxT int64        // timeKey of the earliest and latest CreatedAt
	oldest     *memDelivery // the pending delivery created first; nil when none
	mask       uint8        // states present
}

var emptySummary = summary{minT: math.MaxInt64, maxT: math.MinInt64}

func (s *summary) add(md *memDelivery) {
	bit := stateBit(md.State)
	if bit == 0 {
		return
	}
	s.mask |= bit
	k := md.ctKey
	s.minT = min(s.minT, k)
	s.maxT = max(s.maxT, k)
	if md.State == DeliveryPending && (s.oldest == nil || md.CreatedAt.Before(s.oldest.CreatedAt)) {
		s.oldest = md
	}
}

func merge(a, b *summary) summary {
	s := summary{mask: a.mask | b.mask, minT: min(a.minT, b.minT), maxT: max(a.maxT, b.maxT), oldest: a.oldest}
	if b.oldest != nil && (s.oldest == nil || b.oldest.CreatedAt.Before(s.oldest.CreatedAt)) {
		s.oldest = b.oldest
	}
	return s
}

// Which list of a delivery: the index of its position in memDelivery.pos.
const (
	listAll = iota
	listWorkspace
	listSubscription
)

// logList is one list of the log.
type logList struct {
	kind   int            // listAll, listWorkspace or listSubscription
	ents   []*memDelivery // insertion order; pruned entries stay until compact
	bits   []uint8        // stateBit of each entry (0 once pruned), read without touching it
	dead   int            // pruned entries in ents
	tree   []summary      // tree[1] is the root; the leaves, one per block, start at leaves
	leaves int
	count  [5]int     // live entries per state, in stateBit order
	blocks [][5]uint8 // the same per block
	// unsorted marks the blocks whose entries are not in CreatedAt order (deliveries
	// inserted with times out of order, test deliveries): in the others the first
	// pending entry is the oldest, found without looking at the deliveries.
	unsorted []bool

	// A subscription's list: the workspace of its deliveries, unless an ID was reused in
	// another workspace (mixed).
	ws    string
	mixed bool
}

func newLogList(kind int) *logList {
	l := &logList{kind: kind, leaves: 1}
	l.tree = []summary{emptySummary, emptySummary}
	return l
}

func stateIndex(bit uint8) int {
	for i := range 5 {
		if bit == 1<<i {
			return i
		}
	}
	return -1
}

// live is the number of entries of the list in a state of mask.
func (l *logList) live(mask uint8) int {
	n := 0
	for i := range 5 {
		if mask&(1<<i) != 0 {
			n += l.count[i]
		}
	}
	return n
}

// append adds a delivery, the newest, in its current state.
func (l *logList) append(md *memDelivery) {
	if l.kind == listSubscription {
		if len(l.ents) == 0 && l.dead == 0 {
			l.ws = md.Workspace
		} else if md.Workspace != l.ws {
			l.mixed = true
		}
	}
	pos := len(l.ents)
	md.pos[l.kind] = int32(pos)
	l.ents = append(l.ents, md)
	l.bits = append(l.bits, stateBit(md.State))
	b := pos >> logShift
	if b >= l.leaves {
		l.grow()
	}
	if b >= len(l.blocks) {
		l.blocks = append(l.blocks, [5]uint8{})
		l.unsorted = append(l.unsorted, false)
	}
	if pos&(logBlock-1) != 0 && md.CreatedAt.Before(l.ents[pos-1].CreatedAt) {
		l.unsorted[b] = true
	}
	if i := stateIndex(stateBit(md.State)); i >= 0 {
		l.count[i]++
		l.blocks[b][i]++
	}
	n := l.leaves + b
	l.tree[n].add(md)
	l.fixUp(n)
}

// changed updates the summaries after md's state went from old to its current one (or
// md was pruned).
func (l *logList) changed(md *memDelivery, old DeliveryState) {
	pos := int(md.pos[l.kind])
	if l.bits[pos] = stateBit(md.State); md.pruned {
		l.bits[pos] = 0
	}
	b := pos >> logShift
	leaf := &l.tree[l.leaves+b]
	prev := *leaf
	if i := stateIndex(stateBit(old)); i >= 0 {
		l.count[i]--
		if l.blocks[b][i]--; l.blocks[b][i] == 0 {
			leaf.mask &^= 1 << i
		}
	}
	if i := stateIndex(stateBit(md.State)); i >= 0 && !md.pruned {
		l.count[i]++
		l.blocks[b][i]++
		leaf.mask |= 1 << i
	}
	if leaf.oldest == md && (md.State != DeliveryPending || md.pruned) {
		leaf.oldest = l.oldestIn(b)
	}
	if md.State == DeliveryPending && !md.pruned && (leaf.oldest == nil || md.CreatedAt.Before(leaf.oldest.CreatedAt)) {
		leaf.oldest = md
	}
	// A pruned entry leaves the block's time range as it was: wider than needed, which
	// only costs a look at the block.
	if *leaf != prev {
		l.fixUp(l.leaves + b)
	}
}

// removed takes note that md was pruned (its state was old), and compacts the list once
// most of it is dead.
func (l *logList) removed(md *memDelivery, old DeliveryState) {
	l.changed(md, old)
	l.dead++
	if l.dead > 64 && l.dead*2 > len(l.ents) {
		l.compact()
	}
}

// oldestIn is the pending delivery of block b created first (the first of those created
// at once), or nil.
func (l *logList) oldestIn(b int) *memDelivery {
	var oldest *memDelivery
	for i := b << logShift; i < min(len(l.ents), (b+1)<<logShift); i++ {
		if l.bits[i] != 1 { // stateBit(DeliveryPending)
			continue
		}
		if !l.unsorted[b] {
			return l.ents[i] // in CreatedAt order: the first is the oldest
		}
		if md := l.ents[i]; oldest == nil || md.CreatedAt.Before(oldest.CreatedAt) {
			oldest = md
		}
	}
	return oldest
}

// fixUp recomputes the ancestors of node n, up to the first that does not change.
func (l *logList) fixUp(n int) {
	for n >>= 1; n >= 1; n >>= 1 {
		s := merge(&l.tree[2*n], &l.tree[2*n+1])
		if s == l.tree[n] {
			return
		}
		l.tree[n] = s
	}
}

// grow doubles the tree's leaves for one more block. The blocks keep their entries, so
// their summaries move as they are and only the nodes above them are recomputed: no
// delivery is looked at.
func (l *logList) grow() {
	leaves := 2 * l.leaves
	tree := make([]summary, 2*leaves)
	copy(tree[leaves:], l.tree[l.leaves:2*l.leaves])
	for i := leaves + l.leaves; i < len(tree); i++ {
		tree[i] = emptySummary
	}
	for n := leaves - 1; n >= 1; n-- {
		tree[n] = merge(&tree[2*n], &tree[2*n+1])
	}
	l.tree, l.leaves = tree, leaves
}

// rebuild sizes the tree for the entries and recomputes every summary.
func (l *logList) rebuild() {
	blocks := (len(l.ents) + logBlock - 1) >> logShift
	leaves := 1
	for leaves < blocks {
		leaves <<= 1
	}
	if leaves*2 > len(l.tree) || leaves*8 < len(l.tree) {
		l.tree = make([]summary, 2*leaves)
	}
	l.leaves = leaves
	l.count = [5]int{}
	l.blocks = slices.Grow(l.blocks[:0], blocks)[:blocks]
	clear(l.blocks)
	l.unsorted = slices.Grow(l.unsorted[:0], blocks)[:blocks]
	clear(l.unsorted)
	for i := range l.tree[:2*leaves] {
		l.tree[i] = emptySummary
	}
	for i, md := range l.ents {
		md.pos[l.kind] = int32(i)
		if i&(logBlock-1) != 0 && md.CreatedAt.Before(l.ents[i-1].CreatedAt) {
			l.unsorted[i>>logShift] = true
		}
		if md.pruned {
			continue
		}
		if j := stateIndex(stateBit(md.State)); j >= 0 {
			l.count[j]++
			l.blocks[i>>logShift][j]++
		}
		l.tree[leaves+i>>logShift].add(md)
	}
	for n := leaves - 1; n >= 1; n-- {
		l.tree[n] = merge(&l.tree[2*n], &l.tree[2*n+1])
	}
}

// compact drops the pruned entries.
func (l *logList) compact() {
	keep := l.ents[:0]
	bits := l.bits[:0]
	for _, md := range l.ents {
		if !md.pruned {
			keep = append(keep, md)
			bits = append(bits, stateBit(md.State))
		}
	}
	clear(l.ents[len(keep):])
	l.ents, l.bits = keep, bits
	l.dead = 0
	l.rebuild()
}

// oldestPending is the pending delivery of the list created first, or nil.
func (l *logList) oldestPending() *memDelivery { return l.tree[1].oldest }

// filter is what a walk over a list looks for.
type filter struct {
	mask         uint8 // wanted states
	since, until int64 // timeKey bounds, inclusive
}

func (f *filter) matches(s *summary) bool {
	return s.mask&f.mask != 0 && s.maxT >= f.since && s.minT <= f.until
}

// prevBlock is the last block at or before b whose summary may match, or -1.
func (l *logList) prevBlock(b int, f *filter) int {
	n := l.leaves + b
	if f.matches(&l.tree[n]) {
		return b
	}
	for n > 1 {
		if n&1 == 1 {
			n--
			if f.matches(&l.tree[n]) {
				for n < l.leaves {
					if f.matches(&l.tree[2*n+1]) {
						n = 2*n + 1
					} else {
						n = 2 * n
					}
				}
				return n - l.leaves
			}
		}
		n >>= 1
	}
	return -1
}

// nextBlock is the first block at or after b whose summary may match, or -1.
func (l *logList) nextBlock(b int, f *filter) int {
	if b >= l.leaves {
		return -1
	}
	n := l.leaves + b
	if f.matches(&l.tree[n]) {
		return b
	}
	for n > 1 {
		if n&1 == 0 {
			n++
			if f.matches(&l.tree[n]) {
				for n < l.leaves {
					if f.matches(&l.tree[2*n]) {
						n = 2 * n
					} else {
						n = 2*n + 1
					}
				}
				return n - l.leaves
			}
		}
		n >>= 1
	}
	return -1
}

// before is the number of entries older than the delivery with sequence number seq.
func (l *logList) before(seq uint64) int {
	return sort.Search(len(l.ents), func(i int) bool { return l.ents[i].seq >= seq })
}

// walk calls fn for the live entries that f may match, from position end-1 towards the
// oldest, until fn returns false.
func (l *logList) walk(end int, f *filter, fn func(*memDelivery) bool) {
	for pos := end - 1; pos >= 0; {
		b := l.prevBlock(pos>>logShift, f)
		if b < 0 {
			return
		}
		pos = min(pos, (b+1)<<logShift-1)
		for start := b << logShift; pos >= start; pos-- {
			if l.bits[pos]&f.mask != 0 && !fn(l.ents[pos]) {
				return
			}
		}
	}
}

// walkOldest calls fn for the live entries that f may match, oldest first, until fn
// returns false.
func (l *logList) walkOldest(f *filter, fn func(*memDelivery) bool) {
	for pos := 0; pos < len(l.ents); {
		b := l.nextBlock(pos>>logShift, f)
		if b < 0 {
			return
		}
		pos = max(pos, b<<logShift)
		for end := min(len(l.ents), (b+1)<<logShift); pos < end; pos++ {
			if l.bits[pos]&f.mask != 0 && !fn(l.ents[pos]) {
				return
			}
		}
	}
}
