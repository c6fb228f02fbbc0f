package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// Customer is a shop's customer.
type Customer struct {
	ID        string    `json:"id"`
	Shop      string    `json:"shop"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Product is an item for sale, with its stock.
type Product struct {
	ID                string    `json:"id"`
	Shop              string    `json:"shop"`
	SKU               string    `json:"sku"`
	Title             string    `json:"title"`
	PriceCents        int64     `json:"price_cents"`
	InventoryQuantity int       `json:"inventory_quantity"`
	Version           int       `json:"version"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// LineItem is one product of an order.
type LineItem struct {
	ProductID  string `json:"product_id"`
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// Order is a customer's order.
type Order struct {
	ID                string                      `json:"id"`
	Shop              string                      `json:"shop"`
	CustomerID        string                      `json:"customer_id"`
	LineItems         []LineItem                  `json:"line_items"`
	TotalCents        int64                       `json:"total_cents"`
	Currency          string                      `json:"currency"`
	Status            eventtypes.OrderState       `json:"status"`
	FulfillmentStatus eventtypes.FulfillmentState `json:"fulfillment_status"`
	Version           int                         `json:"version"`
	CreatedAt         time.Time                   `json:"created_at"`
	UpdatedAt         time.Time                   `json:"updated_at"`
}

// InventoryChange is the data of a product.inventory_updated event.
type InventoryChange struct {
	ID                string    `json:"id"`
	SKU               string    `json:"sku"`
	InventoryQuantity int       `json:"inventory_quantity"`
	PreviousQuantity  int       `json:"previous_quantity"`
	Change            int       `json:"change"`
	Version           int       `json:"version"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// Shop is the state of every merchant's shop, in memory, and their HTTP handlers. Each
// resource belongs to one merchant's shop and is reached only under its path. It is safe
// for concurrent use.
type Shop struct {
	d         *webhook.Dispatcher
	log       *slog.Logger
	merchants merchants

	mu        sync.Mutex
	customers map[string]Customer
	products  map[string]Product
	orders    map[string]Order
}

// NewShop returns the merchants' empty shops; each emits its events to d in the
// merchant's workspace.
func NewShop(d *webhook.Dispatcher, log *slog.Logger, ms merchants) *Shop {
	return &Shop{
		d: d, log: log, merchants: ms,
		customers: make(map[string]Customer),
		products:  make(map[string]Product),
		orders:    make(map[string]Order),
	}
}

func (s *Shop) routes(mux *http.ServeMux) {
	for pattern, h := range map[string]http.HandlerFunc{
		"POST /customers":                s.createCustomer,
		"GET /customers/{id}":            s.getCustomer,
		"POST /products":                 s.createProduct,
		"GET /products/{id}":             s.getProduct,
		"PATCH /products/{id}/inventory": s.setInventory,
		"POST /orders":                   s.createOrder,
		"GET /orders/{id}":               s.getOrder,
		"POST /orders/{id}/fulfil":       s.fulfilOrder,
		"POST /orders/{id}/cancel":       s.cancelOrder,
	} {
		method, path, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" /shops/{shop}"+path, s.merchantOnly(h))
	}
}

// merchantOnly answers 404 for a shop that is not one of the platform's merchants.
func (s *Shop) merchantOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.merchants.has(r.PathValue("shop")) {
			writeError(w, s.log, notFound("shop", r.PathValue("shop")))
			return
		}
		h(w, r)
	}
}

// emit tells the subscribers of the request's shop (its merchant's webhook workspace) that
// typ happened to a resource. The handlers call it after
// the change is made and visible, never before:
//   - an event states a fact: when the change is refused (out of stock, a conflict) or
//     fails, no subscriber may hear of it;
//   - subscribers call back (a query-format webhook carries only the ID): by the time the
//     event can arrive, GET /orders/{id} must show the new state.
//
// Emit only stores the event and returns; it never waits for a subscriber.
//
// The event ID is the idempotency key, and it names the change, not the call: the
// resource ID, the resource's version after the change, and the type
// ("ord_…/v2/order.fulfilled"). Emitting the same change again (a retried request, or a
// recovery job re-emitting after a crash between the change and Emit) stores nothing new,
// and subscribers, who deduplicate by webhook-id, see it once. A random ID per call would
// make every repeat a new event. Resource IDs are random (store.NewID), so an event ID
// never names two changes, not even across restarts with a durable store.
//
// Here the state is in memory, so a crash loses the change and its event together. With
// a database, write the change and an "emit pending" row in one transaction (an outbox)
// and call Emit from that row until it succeeds: the deterministic ID makes repeats safe.
func (s *Shop) emit(r *http.Request, typ, resourceID string, version int, data any) {
	// The change is made: a client that hangs up must not keep its event from being stored.
	ctx := context.WithoutCancel(r.Context())
	id := fmt.Sprintf("%s/v%d/%s", resourceID, version, typ)
	if _, err := s.d.Emit(ctx, typ, data, webhook.WithEventID(id), webhook.InWorkspace(r.PathValue("shop"))); err != nil {
		// The change stands; the event is lost (see the outbox above).
		s.log.Error("shop: emitting an event", "type", typ, "event", id, "err", err)
	}
}

func (s *Shop) createCustomer(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := readJSON(r, &in, false); err != nil {
		writeError(w, s.log, err)
		return
	}
	if !strings.Contains(in.Email, "@") {
		writeError(w, s.log, badField("email", "must be an email address"))
		return
	}
	now := time.Now().UTC()
	c := Customer{ID: store.NewID("cus"), Shop: r.PathValue("shop"), Email: in.Email, Name: in.Name, Version: 1, CreatedAt: now, UpdatedAt: now}
	s.mu.Lock()
	s.customers[c.ID] = c
	s.mu.Unlock()

	s.emit(r, eventtypes.CustomerCreated, c.ID, c.Version, c)
	writeJSON(w, http.StatusCreated, c)
}

func (s *Shop) createProduct(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SKU               string `json:"sku"`
		Title             string `json:"title"`
		PriceCents        int64  `json:"price_cents"`
		InventoryQuantity int    `json:"inventory_quantity"`
	}
	if err := readJSON(r, &in, false); err != nil {
		writeError(w, s.log, err)
		return
	}
	switch {
	case in.Title == "":
		writeError(w, s.log, badField("title", "is required"))
		return
	case in.PriceCents < 0:
		writeError(w, s.log, badField("price_cents", "must not be negative"))
		return
	case in.InventoryQuantity < 0:
		writeError(w, s.log, badField("inventory_quantity", "must not be negative"))
		return
	}
	now := time.Now().UTC()
	p := Product{ID: store.NewID("prod"), Shop: r.PathValue("shop"), SKU: in.SKU, Title: in.Title, PriceCents: in.PriceCents,
		InventoryQuantity: in.InventoryQuantity, Version: 1, CreatedAt: now, UpdatedAt: now}
	s.mu.Lock()
	s.products[p.ID] = p
	s.mu.Unlock()

	s.emit(r, eventtypes.ProductCreated, p.ID, p.Version, p)
	writeJSON(w, http.StatusCreated, p)
}

func (s *Shop) setInventory(w http.ResponseWriter, r *http.Request) {
	var in struct {
		InventoryQuantity *int `json:"inventory_quantity"`
	}
	if err := readJSON(r, &in, false); err != nil {
		writeError(w, s.log, err)
		return
	}
	if in.InventoryQuantity == nil || *in.InventoryQuantity < 0 {
		writeError(w, s.log, badField("inventory_quantity", "is required and must not be negative"))
		return
	}
	s.mu.Lock()
	p, ok := s.products[r.PathValue("id")]
	if !ok || p.Shop != r.PathValue("shop") {
		s.mu.Unlock()
		writeError(w, s.log, notFound("product", r.PathValue("id")))
		return
	}
	change, changed := s.adjustStock(&p, *in.InventoryQuantity-p.InventoryQuantity)
	s.mu.Unlock()

	if changed {
		s.emit(r, eventtypes.ProductInventoryUpdated, p.ID, p.Version, change)
	}
	writeJSON(w, http.StatusOK, p)
}

// adjustStock changes p's stock by delta and stores it; s.mu must be held. It reports
// the change as the event's data, and false when delta is 0.
func (s *Shop) adjustStock(p *Product, delta int) (InventoryChange, bool) {
	if delta == 0 {
		return InventoryChange{}, false
	}
	prev := p.InventoryQuantity
	p.InventoryQuantity += delta
	p.Version++
	p.UpdatedAt = time.Now().UTC()
	s.products[p.ID] = *p
	return InventoryChange{ID: p.ID, SKU: p.SKU, InventoryQuantity: p.InventoryQuantity,
		PreviousQuantity: prev, Change: delta, Version: p.Version, UpdatedAt: p.UpdatedAt}, true
}

func (s *Shop) createOrder(w http.ResponseWriter, r *http.Request) {
	var in struct {
		CustomerID string `json:"customer_id"`
		Currency   string `json:"currency"`
		LineItems  []struct {
			ProductID string `json:"product_id"`
			Quantity  int    `json:"quantity"`
		} `json:"line_items"`
	}
	if err := readJSON(r, &in, false); err != nil {
		writeError(w, s.log, err)
		return
	}
	if len(in.LineItems) == 0 {
		writeError(w, s.log, badField("line_items", "is empty"))
		return
	}
	now := time.Now().UTC()
	o := Order{ID: store.NewID("ord"), Shop: r.PathValue("shop"), CustomerID: in.CustomerID, Currency: cmp.Or(in.Currency, "EUR"),
		Status: eventtypes.OrderStatePending, FulfillmentStatus: eventtypes.FulfillmentStateNotFulfilled,
		Version: 1, CreatedAt: now, UpdatedAt: now}

	s.mu.Lock()
	if c, ok := s.customers[in.CustomerID]; !ok || c.Shop != o.Shop {
		s.mu.Unlock()
		writeError(w, s.log, badField("customer_id", "names no customer"))
		return
	}
	// Check every line before changing anything: the order is placed whole or not at all.
	need := map[string]int{}
	for _, li := range in.LineItems {
		p, ok := s.products[li.ProductID]
		switch {
		case !ok || p.Shop != o.Shop:
			s.mu.Unlock()
			writeError(w, s.log, badField("line_items", fmt.Sprintf("product %q does not exist", li.ProductID)))
			return
		case li.Quantity < 1:
			s.mu.Unlock()
			writeError(w, s.log, badField("line_items", "quantity must be at least 1"))
			return
		}
		need[p.ID] += li.Quantity
		if need[p.ID] > p.InventoryQuantity {
			s.mu.Unlock()
			writeError(w, s.log, fmt.Errorf("product %q: only %d in stock: %w", p.ID, p.InventoryQuantity, errConflict))
			return
		}
		o.LineItems = append(o.LineItems, LineItem{ProductID: p.ID, SKU: p.SKU, Quantity: li.Quantity, PriceCents: p.PriceCents})
		o.TotalCents += int64(li.Quantity) * p.PriceCents
	}
	var changes []InventoryChange
	for id, n := range need {
		p := s.products[id]
		c, _ := s.adjustStock(&p, -n)
		changes = append(changes, c)
	}
	s.orders[o.ID] = o
	s.mu.Unlock()

	s.emit(r, eventtypes.OrderCreated, o.ID, o.Version, o)
	for _, c := range changes {
		s.emit(r, eventtypes.ProductInventoryUpdated, c.ID, c.Version, c)
	}
	writeJSON(w, http.StatusCreated, o)
}

func (s *Shop) fulfilOrder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	o, ok := s.orders[r.PathValue("id")]
	if !ok || o.Shop != r.PathValue("shop") {
		s.mu.Unlock()
		writeError(w, s.log, notFound("order", r.PathValue("id")))
		return
	}
	switch o.FulfillmentStatus {
	case eventtypes.FulfillmentStateFulfilled:
		// Already done, by this request's first try perhaps: emitting the same change again
		// creates nothing, since the event ID names the change.
	default:
		if o.Status == eventtypes.OrderStateCancelled {
			s.mu.Unlock()
			writeError(w, s.log, fmt.Errorf("order %q is cancelled: %w", o.ID, errConflict))
			return
		}
		o.Status, o.FulfillmentStatus = eventtypes.OrderStateComplete, eventtypes.FulfillmentStateFulfilled
		o.Version++
		o.UpdatedAt = time.Now().UTC()
		s.orders[o.ID] = o
	}
	s.mu.Unlock()

	s.emit(r, eventtypes.OrderFulfilled, o.ID, o.Version, o)
	writeJSON(w, http.StatusOK, o)
}

func (s *Shop) cancelOrder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	o, ok := s.orders[r.PathValue("id")]
	if !ok || o.Shop != r.PathValue("shop") {
		s.mu.Unlock()
		writeError(w, s.log, notFound("order", r.PathValue("id")))
		return
	}
	var changes []InventoryChange
	switch {
	case o.Status == eventtypes.OrderStateCancelled:
		// Already cancelled: the event below is the same as the first time's, so it is not
		// sent again.
	case o.FulfillmentStatus == eventtypes.FulfillmentStateFulfilled:
		s.mu.Unlock()
		writeError(w, s.log, fmt.Errorf("order %q is fulfilled: %w", o.ID, errConflict))
		return
	default:
		o.Status = eventtypes.OrderStateCancelled
		o.Version++
		o.UpdatedAt = time.Now().UTC()
		s.orders[o.ID] = o
		for _, li := range o.LineItems { // back in stock
			if p, ok := s.products[li.ProductID]; ok {
				c, _ := s.adjustStock(&p, li.Quantity)
				changes = append(changes, c)
			}
		}
	}
	s.mu.Unlock()

	s.emit(r, eventtypes.OrderCancelled, o.ID, o.Version, o)
	for _, c := range changes {
		s.emit(r, eventtypes.ProductInventoryUpdated, c.ID, c.Version, c)
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Shop) getCustomer(w http.ResponseWriter, r *http.Request) {
	get(w, r, s, "customer", s.customers, func(c Customer) string { return c.Shop })
}

func (s *Shop) getProduct(w http.ResponseWriter, r *http.Request) {
	get(w, r, s, "product", s.products, func(p Product) string { return p.Shop })
}

func (s *Shop) getOrder(w http.ResponseWriter, r *http.Request) {
	get(w, r, s, "order", s.orders, func(o Order) string { return o.Shop })
}

// get answers the resource of the request's shop with the request's ID from m, or 404.
func get[T any](w http.ResponseWriter, r *http.Request, s *Shop, kind string, m map[string]T, shopOf func(T) string) {
	id := r.PathValue("id")
	s.mu.Lock()
	v, ok := m[id]
	s.mu.Unlock()
	if !ok || shopOf(v) != r.PathValue("shop") {
		writeError(w, s.log, notFound(kind, id))
		return
	}
	writeJSON(w, http.StatusOK, v)
}
