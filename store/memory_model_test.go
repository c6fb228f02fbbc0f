package store_test

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shophooks/webhook/store"
)

var (
	modelSeeds = flag.Int("model.seeds", 60, "TestMemoryModel: number of seeds (0, 1, ...)")
	modelSteps = flag.Int("model.steps", 600, "TestMemoryModel: operations per seed")
)

// TestMemoryModel runs random operation sequences against the memory store and against
// refModel, a reference that keeps everything in plain slices and answers every question
// by a linear scan, and compares every answer. A failure names the seed and the step;
// rerun one seed with -run 'TestMemoryModel/seed=N$'.
func TestMemoryModel(t *testing.T) {
	seeds, steps := *modelSeeds, *modelSteps
	if testing.Short() {
		seeds, steps = min(seeds, 10), min(steps, 300)
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			runModel(t, seed, steps)
		})
	}
}

// refSub is one incarnation of a subscription: an ID deleted and created again is another.
type refSub struct {
	store.Subscription
	deleted bool
	fig     store.Figures
}

type refEvent struct {
	store.Event
	had  bool // it has had a delivery
	gone bool
}

type refDelivery struct {
	store.Delivery
	seq    int
	sub    *refSub // nil: a test delivery for no live subscription
	ev     *refEvent
	pruned bool
}

func (d *refDelivery) dueAt() time.Time {
	if !d.LeasedUntil.IsZero() {
		return d.LeasedUntil
	}
	return d.NextAttemptAt
}

func dueLess(a, b *refDelivery) int {
	if c := a.dueAt().Compare(b.dueAt()); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// refModel is the reference: obviously correct, and slow.
type refModel struct {
	subs    []*refSub // every incarnation, in creation order
	events  map[string]*refEvent
	dlvs    []*refDelivery // creation order
	overall store.Figures
	wsFig   map[string]*store.Figures
}

func (r *refModel) sub(id string) *refSub {
	for _, s := range r.subs {
		if s.ID == id && !s.deleted {
			return s
		}
	}
	return nil
}

func (r *refModel) delivery(id string) *refDelivery {
	for _, d := range r.dlvs {
		if d.ID == id && !d.pruned {
			return d
		}
	}
	return nil
}

func (r *refModel) setState(d *refDelivery, state store.DeliveryState, now time.Time) {
	d.State = state
	d.UpdatedAt = now
	if state != store.DeliveryPending {
		d.NextAttemptAt, d.LeasedUntil = time.Time{}, time.Time{}
	}
}

func (r *refModel) statusChanged(s *refSub, now time.Time) {
	for _, d := range r.dlvs {
		if d.sub != s || d.pruned {
			continue
		}
		switch {
		case s.Status == store.StatusActive && d.State == store.DeliveryHeld:
			d.NextAttemptAt = now
			r.setState(d, store.DeliveryPending, now)
		case s.Status == store.StatusInactive && d.State == store.DeliveryPending && !d.LeasedUntil.After(now):
			r.setState(d, store.InactiveState(s.WhileInactive), now)
		}
	}
}

func (r *refModel) deleteSub(s *refSub, now time.Time) {
	for _, d := range r.dlvs {
		if d.sub == s && !d.pruned && (d.State == store.DeliveryPending || d.State == store.DeliveryHeld) {
			r.setState(d, store.DeliveryCancelled, now)
		}
	}
	s.deleted = true
}

// claim is ClaimDue as its doc comment says it.
func (r *refModel) claim(req store.ClaimRequest) ([]store.Claim, time.Time, map[string]int) {
	now := req.Now
	bySub := map[*refSub][]*refDelivery{}
	var order []*refSub
	for _, d := range r.dlvs {
		if d.pruned || d.State != store.DeliveryPending || d.sub == nil || d.sub.deleted || d.sub.Status != store.StatusActive {
			continue
		}
		if _, ok := bySub[d.sub]; !ok {
			order = append(order, d.sub)
		}
		bySub[d.sub] = append(bySub[d.sub], d)
	}
	for _, s := range order {
		slices.SortFunc(bySub[s], dueLess)
	}
	slices.SortFunc(order, func(a, b *refSub) int { return dueLess(bySub[a][0], bySub[b][0]) })
	var out []store.Claim
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	inFlights := map[string]int{}
	for _, s := range order {
		list := bySub[s]
		if list[0].dueAt().After(now) || len(out) >= req.Limit {
			later(list[0].dueAt())
			continue
		}
		inFlight := 0
		for _, d := range list {
			if d.LeasedUntil.After(now) {
				inFlight++
			}
		}
		inFlights[s.ID] = inFlight
		q := req.Limit
		if req.Quota != nil {
			sub := s.Clone()
			q = req.Quota(&sub, inFlight)
		}
		if q <= 0 {
			continue
		}
		var left []*refDelivery
		for _, d := range list {
			if q > 0 && len(out) < req.Limit && !d.dueAt().After(now) {
				q--
				d.LeasedUntil = req.LeaseUntil
				out = append(out, store.Claim{Delivery: d.Clone(), Event: d.ev.Event, Subscription: s.Clone(), Failures: s.fig.Run})
				continue
			}
			left = append(left, d)
		}
		if q > 0 && len(left) > 0 {
			later(left[0].dueAt())
		}
	}
	return out, next, inFlights
}

func (r *refModel) nextDue() (time.Time, bool) {
	var next time.Time
	for _, d := range r.dlvs {
		if !d.pruned && d.State == store.DeliveryPending && (next.IsZero() || d.dueAt().Before(next)) {
			next = d.dueAt()
		}
	}
	return next, !next.IsZero()
}

func (r *refModel) record(rec store.AttemptRecord) (store.Delivery, error) {
	d := r.delivery(rec.DeliveryID)
	if d == nil {
		return store.Delivery{}, store.ErrNotFound
	}
	now := rec.Attempt.SentAt.Add(rec.Attempt.Duration)
	d.Attempts = append(d.Attempts, rec.Attempt)
	d.LeasedUntil = time.Time{}
	d.UpdatedAt = now
	s := d.sub
	if s != nil && s.deleted {
		s = nil
	}
	before := d.State
	if d.State == store.DeliveryPending {
		state := rec.State
		switch {
		case s == nil:
			state = store.DeliveryCancelled
		case state == store.DeliveryPending && s.Status != store.StatusActive:
			state = store.InactiveState(s.WhileInactive)
		case state == store.DeliveryPending:
			d.NextAttemptAt = rec.NextAttemptAt
		}
		r.setState(d, state, now)
	}
	ended := d.State
	if ended == before {
		ended = ""
	}
	if !rec.Attempt.Test {
		if s != nil {
			s.fig.Observe(rec.Attempt, ended)
		}
		r.overall.Observe(rec.Attempt, ended)
		if r.wsFig[d.Workspace] == nil {
			r.wsFig[d.Workspace] = &store.Figures{}
		}
		r.wsFig[d.Workspace].Observe(rec.Attempt, ended)
	}
	if s != nil {
		switch rec.Action {
		case store.ActionDeactivate:
			if s.Status != store.StatusInactive {
				s.Status = store.StatusInactive
				s.StatusReason = rec.Reason
				s.StatusChangedAt = now
				s.UpdatedAt = now
				r.statusChanged(s, now)
			}
		case store.ActionDelete:
			r.deleteSub(s, now)
		}
	}
	return d.Clone(), nil
}

func (r *refModel) redeliver(id string, now time.Time) (store.Delivery, error) {
	d := r.delivery(id)
	switch {
	case d == nil, d.sub == nil, d.sub.deleted:
		return store.Delivery{}, store.ErrNotFound
	case d.sub.Status != store.StatusActive:
		return store.Delivery{}, store.ErrInactive
	case d.LeasedUntil.After(now):
		return store.Delivery{}, store.ErrInFlight
	}
	d.LeasedUntil = time.Time{}
	d.RoundStart = len(d.Attempts)
	d.NextAttemptAt = now
	d.Test = false
	r.setState(d, store.DeliveryPending, now)
	return d.Clone(), nil
}

func (r *refModel) deliveries(q store.DeliveryQuery) ([]store.Delivery, error) {
	before := -1
	if q.Before != "" {
		c := r.delivery(q.Before)
		if c == nil {
			return nil, store.ErrNotFound
		}
		before = c.seq
	}
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	out := []store.Delivery{}
	for i := len(r.dlvs) - 1; i >= 0 && len(out) < limit; i-- {
		d := r.dlvs[i]
		if d.pruned || (before >= 0 && d.seq >= before) ||
			(q.Workspace != "" && d.Workspace != q.Workspace) ||
			(q.SubscriptionID != "" && d.SubscriptionID != q.SubscriptionID) ||
			(q.EventID != "" && d.EventID != q.EventID) ||
			(q.State != "" && d.State != q.State) ||
			(!q.Since.IsZero() && d.CreatedAt.Before(q.Since)) ||
			(!q.Until.IsZero() && !d.CreatedAt.Before(q.Until)) {
			continue
		}
		out = append(out, d.Clone())
	}
	return out, nil
}

func (r *refModel) subscriptions(f store.SubscriptionFilter) []store.Subscription {
	out := []store.Subscription{}
	for _, s := range r.subs {
		if !s.deleted && (f.Workspace == "" || s.Workspace == f.Workspace) && f.Match(s.Subscription) {
			out = append(out, s.Clone())
		}
	}
	return out
}

func (r *refModel) stats(ws string, now time.Time) store.Stats {
	overall := r.overall
	if ws != "" {
		overall = store.Figures{}
		if f := r.wsFig[ws]; f != nil {
			overall = *f
		}
	}
	st := store.Stats{Overall: overall.HealthAt(now), Subscriptions: map[string]store.Health{}}
	var oldest time.Time
	for _, d := range r.dlvs {
		if d.pruned || (ws != "" && d.Workspace != ws) {
			continue
		}
		switch d.State {
		case store.DeliveryPending:
			st.Overall.Pending++
			if oldest.IsZero() || d.CreatedAt.Before(oldest) {
				oldest = d.CreatedAt
			}
		case store.DeliveryHeld:
			st.Overall.Held++
		}
	}
	if !oldest.IsZero() {
		st.Overall.OldestPendingAge = max(0, now.Sub(oldest))
	}
	for _, s := range r.subs {
		if s.deleted || (ws != "" && s.Workspace != ws) {
			continue
		}
		h := s.fig.HealthAt(now)
		var oldest time.Time
		for _, d := range r.dlvs {
			if d.pruned || d.sub != s {
				continue
			}
			switch d.State {
			case store.DeliveryPending:
				h.Pending++
				if oldest.IsZero() || d.CreatedAt.Before(oldest) {
					oldest = d.CreatedAt
				}
			case store.DeliveryHeld:
				h.Held++
			}
		}
		if !oldest.IsZero() {
			h.OldestPendingAge = max(0, now.Sub(oldest))
		}
		st.Subscriptions[s.ID] = h
	}
	return st
}

// prune removes what the request selects when it has no Limit (the answer is then
// deterministic), and answers how many.
func (r *refModel) prune(req store.PruneRequest) int {
	n := 0
	if !req.Before.IsZero() {
		for _, d := range r.dlvs {
			if !d.pruned && d.State.Final() && d.UpdatedAt.Before(req.Before) {
				d.pruned = true
				n++
			}
		}
	}
	if req.KeepPerSubscription > 0 {
		kept := map[string]int{}
		for i := len(r.dlvs) - 1; i >= 0; i-- {
			d := r.dlvs[i]
			if d.pruned || !d.State.Final() {
				continue
			}
			if kept[d.SubscriptionID] < req.KeepPerSubscription {
				kept[d.SubscriptionID]++
				continue
			}
			d.pruned = true
			n++
		}
	}
	r.pruneEvents(req.Before)
	return n
}

// pruneEvents removes the events whose deliveries are all pruned, and those that never
// had one and occurred before cut (when not zero).
func (r *refModel) pruneEvents(cut time.Time) {
	live := map[*refEvent]bool{}
	for _, d := range r.dlvs {
		if !d.pruned {
			live[d.ev] = true
		}
	}
	for id, e := range r.events {
		if live[e] {
			continue
		}
		if e.had || (!cut.IsZero() && e.OccurredAt.Before(cut)) {
			e.gone = true
			delete(r.events, id)
		}
	}
}

// modelRun is one random run: the store, the model, the clock and the dice.
type modelRun struct {
	t    *testing.T
	seed uint64
	step int
	op   string
	rng  *rand.Rand
	ctx  context.Context
	m    *store.Memory
	r    *refModel
	now  time.Time
	ids  int
}

func (mr *modelRun) fatalf(format string, args ...any) {
	mr.t.Helper()
	mr.t.Fatalf("seed %d, step %d (%s): %s", mr.seed, mr.step, mr.op, fmt.Sprintf(format, args...))
}

func (mr *modelRun) equal(what string, want, got any) {
	mr.t.Helper()
	if !reflect.DeepEqual(want, got) {
		mr.fatalf("%s differ:\nmodel: %+v\nstore: %+v", what, want, got)
	}
}

func (mr *modelRun) sameErr(what string, want, got error) {
	mr.t.Helper()
	if (want == nil) != (got == nil) || (want != nil && !errors.Is(got, want)) {
		mr.fatalf("%s: model error %v, store error %v", what, want, got)
	}
}

var (
	modelWorkspaces = []string{"", "A", "B"}
	modelPatterns   = []string{"order.created", "order.*", "*", "product.created", "order.updated", "customer.created"}
	modelTypes      = []string{"order.created", "order.updated", "product.created", "customer.created", "product.deleted"}
	modelStates     = []store.DeliveryState{store.DeliveryPending, store.DeliveryHeld, store.DeliverySucceeded, store.DeliveryFailed, store.DeliveryCancelled}
)

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

func runModel(t *testing.T, seed uint64, steps int) {
	mr := &modelRun{
		t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), ctx: context.Background(),
		m:   store.NewMemory(),
		r:   &refModel{events: map[string]*refEvent{}, wsFig: map[string]*store.Figures{}},
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	ops := []struct {
		name   string
		weight int
		fn     func()
	}{
		{"create", 4, mr.create},
		{"update", 3, mr.update},
		{"delete", 1, mr.delete},
		{"insert", 14, mr.insert},
		{"claim", 12, mr.claim},
		{"record", 12, mr.recordAttempt},
		{"redeliver", 2, mr.redeliver},
		{"recordTest", 1, mr.recordTest},
		{"deliveries", 5, mr.queryDeliveries},
		{"subscriptions", 2, mr.querySubscriptions},
		{"stats", 3, mr.stats},
		{"get", 3, mr.get},
		{"prune", 1, mr.prune},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	for mr.step = range steps {
		// The clock mostly moves on, sometimes jumps past leases, sometimes steps back
		// (two emitters whose clocks disagree).
		switch x := mr.rng.IntN(20); {
		case x == 0:
			mr.now = mr.now.Add(-time.Duration(mr.rng.IntN(3000)) * time.Millisecond)
		case x < 3:
			mr.now = mr.now.Add(time.Duration(mr.rng.IntN(40)) * time.Second)
		default:
			mr.now = mr.now.Add(time.Duration(mr.rng.IntN(1500)) * time.Millisecond)
		}
		x := mr.rng.IntN(total)
		for _, o := range ops {
			if x -= o.weight; x < 0 {
				mr.op = o.name
				o.fn()
				break
			}
		}
		if mr.step%25 == 0 {
			mr.op = "check all"
			mr.checkAll()
		}
	}
	mr.op = "check all"
	mr.checkAll()
}

func (mr *modelRun) subID() string { return fmt.Sprintf("sub_%d", mr.rng.IntN(8)) }

func (mr *modelRun) create() {
	s := store.Subscription{
		ID:            mr.subID(),
		Workspace:     pick(mr.rng, modelWorkspaces),
		Name:          pick(mr.rng, []string{"Orders", "Stock", "CRM"}),
		URL:           pick(mr.rng, []string{"https://erp.example.com/h", "https://stock.example.net/h"}),
		Events:        []string{pick(mr.rng, modelPatterns)},
		Status:        pick(mr.rng, []store.Status{store.StatusActive, store.StatusActive, store.StatusInactive, ""}),
		WhileInactive: pick(mr.rng, []store.InactivePolicy{store.InactiveHold, store.InactiveDiscard}),
		MaxInFlight:   mr.rng.IntN(3),
		CreatedAt:     mr.now,
	}
	if mr.rng.IntN(3) == 0 {
		s.Events = append(s.Events, pick(mr.rng, modelPatterns))
	}
	if mr.rng.IntN(2) == 0 {
		s.Metadata = map[string]string{"team": pick(mr.rng, []string{"a", "b"})}
	}
	err := mr.m.CreateSubscription(mr.ctx, s)
	var want error
	if mr.r.sub(s.ID) != nil {
		want = store.ErrConflict
	} else {
		rs := &refSub{Subscription: s.Clone()}
		if rs.Status == "" {
			rs.Status = store.StatusActive
		}
		mr.r.subs = append(mr.r.subs, rs)
	}
	mr.sameErr("CreateSubscription", want, err)
}

func (mr *modelRun) update() {
	id := mr.subID()
	status := pick(mr.rng, []store.Status{store.StatusActive, store.StatusInactive})
	events := []string{pick(mr.rng, modelPatterns)}
	name := pick(mr.rng, []string{"Orders", "Stock", "CRM"})
	fail := mr.rng.IntN(8) == 0
	boom := errors.New("boom")
	fn := func(s *store.Subscription) error {
		s.Status = status
		s.Workspace = "moved" // never moves
		if len(s.Events) > 0 && name == "CRM" {
			s.Events = events
		}
		s.Name = name
		s.UpdatedAt = mr.now
		if fail {
			return boom
		}
		return nil
	}
	got, err := mr.m.UpdateSubscription(mr.ctx, id, mr.now, fn)
	s := mr.r.sub(id)
	if s == nil {
		mr.sameErr("UpdateSubscription", store.ErrNotFound, err)
		return
	}
	next := s.Clone()
	werr := fn(&next)
	mr.sameErr("UpdateSubscription", werr, err)
	if werr != nil {
		return
	}
	next.ID, next.Workspace = s.ID, s.Workspace
	old := s.Status
	s.Subscription = next
	if old != next.Status {
		mr.r.statusChanged(s, mr.now)
	}
	mr.equal("updated subscription", s.Clone(), got)
}

func (mr *modelRun) delete() {
	id := mr.subID()
	err := mr.m.DeleteSubscription(mr.ctx, id, mr.now)
	s := mr.r.sub(id)
	if s == nil {
		mr.sameErr("DeleteSubscription", store.ErrNotFound, err)
		return
	}
	mr.sameErr("DeleteSubscription", nil, err)
	mr.r.deleteSub(s, mr.now)
}

func (mr *modelRun) insert() {
	mr.ids++
	id := fmt.Sprintf("evt_%d", mr.ids)
	if mr.rng.IntN(10) == 0 && mr.ids > 1 {
		id = fmt.Sprintf("evt_%d", 1+mr.rng.IntN(mr.ids-1)) // maybe an existing one
	}
	ev := store.Event{ID: id, Workspace: pick(mr.rng, modelWorkspaces), Type: pick(mr.rng, modelTypes),
		OccurredAt: mr.now, Data: []byte(fmt.Sprintf(`{"n":%d}`, mr.ids))}
	ins, err := mr.m.InsertEvent(mr.ctx, ev, mr.now)
	if err != nil {
		mr.fatalf("InsertEvent: %v", err)
	}
	if old := mr.r.events[id]; old != nil {
		mr.equal("existing event", store.Inserted{Event: old.Event}, ins)
		return
	}
	e := &refEvent{Event: ev}
	e.Data = slices.Clone(ev.Data)
	mr.r.events[id] = e
	want := store.Inserted{Event: ev, Created: true}
	var subs []*refSub
	for _, s := range mr.r.subs {
		if s.deleted || s.Workspace != ev.Workspace || !s.Wants(ev.Type) {
			continue
		}
		if s.Status != store.StatusActive && s.WhileInactive != store.InactiveHold {
			continue
		}
		subs = append(subs, s)
	}
	if len(ins.Deliveries) != len(subs) {
		mr.fatalf("InsertEvent: %d deliveries, model %d", len(ins.Deliveries), len(subs))
	}
	for i, s := range subs {
		d := &refDelivery{Delivery: store.Delivery{
			ID: ins.Deliveries[i], Workspace: ev.Workspace, EventID: id, SubscriptionID: s.ID,
			EventType: ev.Type, CreatedAt: mr.now, UpdatedAt: mr.now,
		}, seq: len(mr.r.dlvs), sub: s, ev: e}
		if s.Status == store.StatusActive {
			d.State, d.NextAttemptAt = store.DeliveryPending, mr.now
			want.Pending++
		} else {
			d.State = store.DeliveryHeld
			want.Held++
		}
		e.had = true
		mr.r.dlvs = append(mr.r.dlvs, d)
		want.Deliveries = append(want.Deliveries, d.ID)
	}
	mr.equal("Inserted", want, ins)
}

// quota is a random pure Quota for one claim: nil, a cap per subscription minus what is
// in flight, or a fixed grant per subscription.
func (mr *modelRun) quota() func(*store.Subscription, int) int {
	switch mr.rng.IntN(4) {
	case 0:
		return nil
	case 1, 2:
		def := 1 + mr.rng.IntN(3)
		return func(s *store.Subscription, inFlight int) int { return cmp.Or(s.MaxInFlight, def) - inFlight }
	default:
		grants := map[string]int{}
		for i := range 8 {
			grants[fmt.Sprintf("sub_%d", i)] = mr.rng.IntN(4) - 1
		}
		return func(s *store.Subscription, _ int) int { return grants[s.ID] }
	}
}

func (mr *modelRun) claim() {
	req := store.ClaimRequest{
		Now:        mr.now,
		Limit:      1 + mr.rng.IntN(6),
		LeaseUntil: mr.now.Add(time.Duration(1+mr.rng.IntN(20)) * time.Second),
		Quota:      mr.quota(),
	}
	sreq := req
	asked := map[string][]int{}
	if req.Quota != nil {
		sreq.Quota = func(s *store.Subscription, inFlight int) int {
			asked[s.ID] = append(asked[s.ID], inFlight)
			return req.Quota(s, inFlight)
		}
	}
	got, next, err := mr.m.ClaimDue(mr.ctx, sreq)
	if err != nil {
		mr.fatalf("ClaimDue: %v", err)
	}
	want, wnext, inFlights := mr.r.claim(req)
	mr.equal("claims", normClaims(want), normClaims(got))
	if !wnext.Equal(next) {
		mr.fatalf("next: model %v, store %v", wnext, next)
	}
	for id, calls := range asked {
		for _, n := range calls {
			if w, ok := inFlights[id]; ok && w != n {
				mr.fatalf("Quota for %s got inFlight %d, model %d", id, n, w)
			}
		}
	}
}

func normClaims(cs []store.Claim) []store.Claim {
	out := []store.Claim{}
	for _, c := range cs {
		c.Delivery = normDelivery(c.Delivery)
		out = append(out, c)
	}
	return out
}

func normDelivery(d store.Delivery) store.Delivery {
	if len(d.Attempts) == 0 {
		d.Attempts = nil
	}
	return d
}

func normDeliveries(ds []store.Delivery) []store.Delivery {
	out := []store.Delivery{}
	for _, d := range ds {
		out = append(out, normDelivery(d))
	}
	return out
}

// someDelivery picks a delivery ID the model knows, leased ones more often; sometimes
// one that is gone or never was.
func (mr *modelRun) someDelivery() string {
	if len(mr.r.dlvs) == 0 || mr.rng.IntN(30) == 0 {
		return "dlv_missing"
	}
	var leased []*refDelivery
	for _, d := range mr.r.dlvs {
		if !d.pruned && !d.LeasedUntil.IsZero() {
			leased = append(leased, d)
		}
	}
	if len(leased) > 0 && mr.rng.IntN(3) > 0 {
		return pick(mr.rng, leased).ID
	}
	return pick(mr.rng, mr.r.dlvs).ID
}

func (mr *modelRun) recordAttempt() {
	id := mr.someDelivery()
	a := store.Attempt{Number: 1, SentAt: mr.now.Add(-time.Duration(mr.rng.IntN(2000)) * time.Millisecond),
		Duration: time.Duration(1+mr.rng.IntN(3000)) * time.Millisecond}
	rec := store.AttemptRecord{DeliveryID: id}
	switch mr.rng.IntN(10) {
	case 0, 1, 2, 3:
		a.StatusCode, a.Outcome = 200, store.OutcomeSucceeded
		rec.State = store.DeliverySucceeded
	case 4, 5, 6:
		a.StatusCode, a.ErrorKind, a.Outcome = 503, store.ErrorServer, store.OutcomeRetry
		rec.State = store.DeliveryPending
		rec.NextAttemptAt = mr.now.Add(time.Duration(mr.rng.IntN(30)) * time.Second)
		a.NextAttemptAt = rec.NextAttemptAt
	case 7:
		a.ErrorKind, a.Outcome = store.ErrorTimeout, store.OutcomeGaveUp
		rec.State = store.DeliveryFailed
	case 8:
		a.StatusCode, a.ErrorKind, a.Outcome = 410, store.ErrorClient, store.OutcomeDeactivated
		rec.State, rec.Action, rec.Reason = store.DeliveryFailed, store.ActionDeactivate, "410 Gone"
	default:
		a.StatusCode, a.ErrorKind, a.Outcome = 200, store.ErrorUnsubscribe, store.OutcomeUnsubscribed
		rec.State, rec.Action = store.DeliveryFailed, store.ActionDelete
	}
	if mr.rng.IntN(12) == 0 {
		a.Test = true
	}
	rec.Attempt = a
	got, err := mr.m.RecordAttempt(mr.ctx, rec)
	want, werr := mr.r.record(rec)
	mr.sameErr("RecordAttempt", werr, err)
	mr.equal("recorded delivery", normDelivery(want), normDelivery(got))
}

func (mr *modelRun) redeliver() {
	id := mr.someDelivery()
	got, err := mr.m.Redeliver(mr.ctx, id, mr.now)
	want, werr := mr.r.redeliver(id, mr.now)
	mr.sameErr("Redeliver", werr, err)
	mr.equal("redelivered", normDelivery(want), normDelivery(got))
}

func (mr *modelRun) recordTest() {
	mr.ids++
	evID := fmt.Sprintf("evt_%d", mr.ids)
	if mr.rng.IntN(3) == 0 && mr.ids > 1 {
		evID = fmt.Sprintf("evt_%d", 1+mr.rng.IntN(mr.ids-1))
	}
	sub := mr.subID()
	ws := pick(mr.rng, modelWorkspaces)
	if s := mr.r.sub(sub); s != nil {
		ws = s.Workspace
	}
	ev := store.Event{ID: evID, Workspace: ws, Type: "order.created", OccurredAt: mr.now, Data: []byte(`{"test":true}`)}
	dID := fmt.Sprintf("dlv_test_%d", mr.ids)
	if mr.rng.IntN(10) == 0 && len(mr.r.dlvs) > 0 {
		dID = pick(mr.rng, mr.r.dlvs).ID // a conflict, or a pruned ID used again
	}
	created := mr.now.Add(-time.Duration(mr.rng.IntN(60)) * time.Second) // not in log order
	d := store.Delivery{ID: dID, Workspace: ws, SubscriptionID: sub, EventType: ev.Type,
		State:     pick(mr.rng, []store.DeliveryState{store.DeliverySucceeded, store.DeliveryFailed}),
		Attempts:  []store.Attempt{{Number: 1, SentAt: created, Outcome: store.OutcomeSucceeded, Test: true}},
		CreatedAt: created, UpdatedAt: created.Add(time.Second)}
	err := mr.m.RecordTest(mr.ctx, ev, d)
	if mr.r.delivery(dID) != nil {
		mr.sameErr("RecordTest", store.ErrConflict, err)
		return
	}
	mr.sameErr("RecordTest", nil, err)
	e := mr.r.events[evID]
	if e == nil {
		e = &refEvent{Event: ev}
		mr.r.events[evID] = e
	}
	e.had = true
	d.EventID, d.Test = evID, true
	mr.r.dlvs = append(mr.r.dlvs, &refDelivery{Delivery: d.Clone(), seq: len(mr.r.dlvs), sub: mr.r.sub(sub), ev: e})
}

func (mr *modelRun) randomQuery() store.DeliveryQuery {
	var q store.DeliveryQuery
	if mr.rng.IntN(2) == 0 {
		q.Workspace = pick(mr.rng, []string{"A", "B", "C"})
	}
	if mr.rng.IntN(3) == 0 {
		q.SubscriptionID = mr.subID()
	}
	if mr.rng.IntN(5) == 0 && mr.ids > 0 {
		q.EventID = fmt.Sprintf("evt_%d", 1+mr.rng.IntN(mr.ids))
	}
	if mr.rng.IntN(2) == 0 {
		q.State = pick(mr.rng, modelStates)
	}
	// A bound: some time back, or exactly when some delivery was created.
	bound := func() time.Time {
		if len(mr.r.dlvs) > 0 && mr.rng.IntN(2) == 0 {
			return pick(mr.rng, mr.r.dlvs).CreatedAt
		}
		return mr.now.Add(-time.Duration(mr.rng.IntN(300)) * time.Second)
	}
	if mr.rng.IntN(3) == 0 {
		q.Since = bound()
	}
	if mr.rng.IntN(3) == 0 {
		q.Until = bound()
	}
	q.Limit = pick(mr.rng, []int{0, 1, 3, 10, 1000})
	return q
}

func (mr *modelRun) queryDeliveries() {
	q := mr.randomQuery()
	if mr.rng.IntN(3) == 0 {
		q.Before = mr.someDelivery()
	}
	got, err := mr.m.Deliveries(mr.ctx, q)
	want, werr := mr.r.deliveries(q)
	mr.sameErr(fmt.Sprintf("Deliveries %+v", q), werr, err)
	mr.equal(fmt.Sprintf("Deliveries %+v", q), normDeliveries(want), normDeliveries(got))
	// Page through it all.
	q.Before = ""
	for page := 0; ; page++ {
		if page > 2000 {
			mr.fatalf("paging does not end")
		}
		got, err := mr.m.Deliveries(mr.ctx, q)
		want, werr := mr.r.deliveries(q)
		mr.sameErr("page", werr, err)
		mr.equal(fmt.Sprintf("page %d of %+v", page, q), normDeliveries(want), normDeliveries(got))
		if len(got) == 0 || q.Limit == 0 || q.Limit == 1000 {
			break
		}
		q.Before = got[len(got)-1].ID
	}
}

func (mr *modelRun) querySubscriptions() {
	f := store.SubscriptionFilter{}
	if mr.rng.IntN(2) == 0 {
		f.Workspace = pick(mr.rng, []string{"A", "B", "C"})
	}
	switch mr.rng.IntN(5) {
	case 0:
		f.Metadata = map[string]string{"team": pick(mr.rng, []string{"a", "b"})}
	case 1:
		f.Resource = "order"
	case 2:
		f.Status = store.StatusInactive
	case 3:
		f.Query = "stock"
	}
	got, err := mr.m.Subscriptions(mr.ctx, f)
	if err != nil {
		mr.fatalf("Subscriptions: %v", err)
	}
	mr.equal(fmt.Sprintf("Subscriptions %+v", f), mr.r.subscriptions(f), got)
}

func (mr *modelRun) stats() {
	ws := pick(mr.rng, []string{"", "", "A", "B", "C"})
	got, err := mr.m.Stats(mr.ctx, ws, mr.now)
	if err != nil {
		mr.fatalf("Stats: %v", err)
	}
	mr.equal(fmt.Sprintf("Stats(%q)", ws), mr.r.stats(ws, mr.now), got)
}

func (mr *modelRun) get() {
	id := mr.someDelivery()
	got, err := mr.m.Delivery(mr.ctx, id)
	var want store.Delivery
	var werr error
	if d := mr.r.delivery(id); d != nil {
		want = d.Clone()
	} else {
		werr = store.ErrNotFound
	}
	mr.sameErr("Delivery", werr, err)
	mr.equal("Delivery", normDelivery(want), normDelivery(got))

	t, ok, err := mr.m.NextDue(mr.ctx)
	if err != nil {
		mr.fatalf("NextDue: %v", err)
	}
	wt, wok := mr.r.nextDue()
	if ok != wok || !t.Equal(wt) {
		mr.fatalf("NextDue: model %v %v, store %v %v", wt, wok, t, ok)
	}
}

func (mr *modelRun) prune() {
	var req store.PruneRequest
	switch mr.rng.IntN(4) {
	case 0:
		req.Before = mr.now.Add(-time.Duration(mr.rng.IntN(120)) * time.Second)
	case 1:
		req.KeepPerSubscription = 1 + mr.rng.IntN(4)
	case 2:
		req.Before = mr.now.Add(-time.Duration(mr.rng.IntN(120)) * time.Second)
		req.KeepPerSubscription = 1 + mr.rng.IntN(4)
	default:
		// With a limit the store may choose among equals: check its choice.
		if mr.rng.IntN(2) == 0 {
			req.Before = mr.now.Add(-time.Duration(mr.rng.IntN(120)) * time.Second)
		} else {
			req.KeepPerSubscription = 1 + mr.rng.IntN(4)
		}
		req.Limit = 1 + mr.rng.IntN(5)
		mr.pruneLimited(req)
		return
	}
	n, err := mr.m.Prune(mr.ctx, req)
	if err != nil {
		mr.fatalf("Prune: %v", err)
	}
	mr.equal(fmt.Sprintf("pruned by %+v", req), mr.r.prune(req), n)
}

// pruneLimited prunes with a Limit and one rule, checks that the store removed a right
// choice, and brings the model in line with it.
func (mr *modelRun) pruneLimited(req store.PruneRequest) {
	n, err := mr.m.Prune(mr.ctx, req)
	if err != nil {
		mr.fatalf("Prune: %v", err)
	}
	var removed, kept []*refDelivery
	for _, d := range mr.r.dlvs {
		if d.pruned {
			continue
		}
		if _, err := mr.m.Delivery(mr.ctx, d.ID); errors.Is(err, store.ErrNotFound) {
			removed = append(removed, d)
		} else {
			kept = append(kept, d)
		}
	}
	if len(removed) != n {
		mr.fatalf("Prune answered %d, removed %d", n, len(removed))
	}
	if n > req.Limit {
		mr.fatalf("Prune removed %d, over the limit %d", n, req.Limit)
	}
	for _, d := range removed {
		if !d.State.Final() {
			mr.fatalf("Prune removed %s, which is %s", d.ID, d.State)
		}
	}
	if !req.Before.IsZero() {
		eligible := 0
		for _, d := range removed {
			if !d.UpdatedAt.Before(req.Before) {
				mr.fatalf("Prune removed %s, updated at %v, not before %v", d.ID, d.UpdatedAt, req.Before)
			}
		}
		for _, d := range kept {
			if d.State.Final() && d.UpdatedAt.Before(req.Before) {
				eligible++
				for _, x := range removed {
					if x.UpdatedAt.After(d.UpdatedAt) {
						mr.fatalf("Prune removed %s (updated %v) before the older %s (%v)", x.ID, x.UpdatedAt, d.ID, d.UpdatedAt)
					}
				}
			}
		}
		if eligible > 0 && n < req.Limit {
			mr.fatalf("Prune stopped at %d under the limit with %d left", n, eligible)
		}
	} else {
		finals := map[string][]*refDelivery{} // per subscription ID, newest first, before the prune
		for i := len(mr.r.dlvs) - 1; i >= 0; i-- {
			if d := mr.r.dlvs[i]; !d.pruned && d.State.Final() {
				finals[d.SubscriptionID] = append(finals[d.SubscriptionID], d)
			}
		}
		for sub, list := range finals {
			gone := 0
			for i, d := range list {
				if slices.Contains(removed, d) {
					gone++
					if i < req.KeepPerSubscription {
						mr.fatalf("Prune removed %s, one of the newest %d of %s", d.ID, req.KeepPerSubscription, sub)
					}
				} else if gone > 0 {
					mr.fatalf("Prune kept %s of %s but removed a newer one", d.ID, sub)
				}
			}
			if n < req.Limit && len(list)-gone > req.KeepPerSubscription {
				mr.fatalf("Prune stopped at %d under the limit with %s over its cap", n, sub)
			}
		}
	}
	for _, d := range removed {
		d.pruned = true
	}
	mr.r.pruneEvents(req.Before)
}

// checkAll compares everything the store can be asked without changing it.
func (mr *modelRun) checkAll() {
	for _, ws := range []string{"", "A", "B", "C"} {
		got, err := mr.m.Stats(mr.ctx, ws, mr.now)
		if err != nil {
			mr.fatalf("Stats: %v", err)
		}
		mr.equal(fmt.Sprintf("Stats(%q)", ws), mr.r.stats(ws, mr.now), got)
		q := store.DeliveryQuery{Workspace: ws, Limit: 100000}
		ds, err := mr.m.Deliveries(mr.ctx, q)
		if err != nil {
			mr.fatalf("Deliveries: %v", err)
		}
		want, _ := mr.r.deliveries(q)
		mr.equal(fmt.Sprintf("Deliveries(%q)", ws), normDeliveries(want), normDeliveries(ds))
		for _, st := range modelStates {
			q.State = st
			ds, _ := mr.m.Deliveries(mr.ctx, q)
			want, _ := mr.r.deliveries(q)
			mr.equal(fmt.Sprintf("Deliveries(%q, %s)", ws, st), normDeliveries(want), normDeliveries(ds))
		}
	}
	for i := 1; i <= mr.ids; i++ {
		id := fmt.Sprintf("evt_%d", i)
		got, err := mr.m.Event(mr.ctx, id)
		if e := mr.r.events[id]; e != nil {
			mr.sameErr("Event "+id, nil, err)
			mr.equal("Event "+id, e.Event, got)
		} else {
			mr.sameErr("Event "+id, store.ErrNotFound, err)
		}
	}
	subs, _ := mr.m.Subscriptions(mr.ctx, store.SubscriptionFilter{})
	mr.equal("Subscriptions", mr.r.subscriptions(store.SubscriptionFilter{}), subs)
	t, ok, _ := mr.m.NextDue(mr.ctx)
	wt, wok := mr.r.nextDue()
	if ok != wok || !t.Equal(wt) {
		mr.fatalf("NextDue: model %v %v, store %v %v", wt, wok, t, ok)
	}
}
