package eventtypes

import "strings"

// The built-in event types. Every one of them is in the catalog returned by
// [Default], with a description and a sample payload.
const (
	// OrderCreated: a customer placed an order.
	OrderCreated = "order.created"
	// OrderUpdated: an order changed (status, payment, address, items...).
	OrderUpdated = "order.updated"
	// OrderFulfilled: every item of an order was shipped or handed over.
	OrderFulfilled = "order.fulfilled"
	// OrderCancelled: an order was cancelled.
	OrderCancelled = "order.cancelled"
	// OrderStatus: an order's processing status changed to one of
	// [OrderStateFulfilled] or [OrderStateFailedPermanently].
	OrderStatus = "order.status"

	// ProductCreated: a product was added to the store.
	ProductCreated = "product.created"
	// ProductUpdated: a product's details changed.
	ProductUpdated = "product.updated"
	// ProductDeleted: a product was removed from the store.
	ProductDeleted = "product.deleted"
	// ProductInventoryUpdated: a product's stock level changed.
	ProductInventoryUpdated = "product.inventory_updated"

	// CustomerCreated: a customer account was created.
	CustomerCreated = "customer.created"
	// CustomerUpdated: a customer's details changed.
	CustomerUpdated = "customer.updated"
	// CustomerDeleted: a customer account and its personal data were removed.
	CustomerDeleted = "customer.deleted"

	// PaymentCompleted: a payment for an order was captured.
	PaymentCompleted = "payment.completed"
	// PaymentFailed: a payment attempt was declined or errored.
	PaymentFailed = "payment.failed"
	// PaymentRefunded: a payment was refunded, in full or in part.
	PaymentRefunded = "payment.refunded"

	// ShippingLabelCreated: a shipping label was bought for an order.
	ShippingLabelCreated = "shipping.label_created"
	// ShippingTrackingUpdated: the carrier reported a new tracking status.
	ShippingTrackingUpdated = "shipping.tracking_updated"
	// ShippingDelivered: the carrier delivered the shipment.
	ShippingDelivered = "shipping.delivered"
)

// wildcard is the pattern that matches every event type, and the wildcard part of
// "resource.*" and "*.action".
const wildcard = "*"

// ParseName splits an event type name into its parts: "resource.action", or
// "resource.action.vN" for a versioned type ("order.created.v2"), where N is a
// number without leading zeros. ok is false for any other shape; ParseName does
// not check the characters of resource and action, so patterns parse too
// ("order.*" is resource "order", action "*"; "*.created" resource "*").
func ParseName(name string) (resource, action, version string, ok bool) {
	resource, rest, found := strings.Cut(name, ".")
	if !found || resource == "" {
		return "", "", "", false
	}
	action, version, versioned := strings.Cut(rest, ".")
	if action == "" || (versioned && !validVersion(version)) {
		return "", "", "", false
	}
	return resource, action, version, true
}

// SplitName splits an event type name "resource.action" (or the versioned
// "resource.action.vN") into its resource and action; see ParseName, which
// also returns the version. ok is false when name has neither shape.
func SplitName(name string) (resource, action string, ok bool) {
	resource, action, _, ok = ParseName(name)
	return resource, action, ok
}

// validVersion reports whether v is "v" followed by a number without leading
// zeros: "v1", "v2", "v10".
func validVersion(v string) bool {
	if len(v) < 2 || v[0] != 'v' || v[1] == '0' {
		return false
	}
	for i := 1; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// Match reports whether the subscription pattern covers eventType:
//
//   - "*" matches every type;
//   - "resource.*" matches every type of the resource: "order.*" matches
//     "order.created" and the versioned "order.created.v2";
//   - "*.action" matches that action of every resource, at every version:
//     "*.created" matches "order.created", "customer.created" and
//     "order.created.v2";
//   - "*.action.vN" matches that action at that version of every resource;
//   - any other pattern matches only the identical name: "order.created" does
//     not match "order.created.v2", which is another type with its own payload.
//
// A wildcard stands for a whole part, never for part of one. Match is pure,
// safe for concurrent use, and does not allocate.
func Match(pattern, eventType string) bool {
	if pattern == wildcard {
		return true
	}
	if strings.IndexByte(pattern, '*') < 0 {
		return pattern == eventType
	}
	pres, pact, pver, ok := ParseName(pattern)
	if !ok {
		return false
	}
	res, act, ver, ok := ParseName(eventType)
	if !ok || strings.IndexByte(eventType, '*') >= 0 {
		return false
	}
	switch {
	case pact == wildcard && pver == "": // resource.*
		return pres != wildcard && pres == res
	case pres == wildcard && pact != wildcard: // *.action, *.action.vN
		return pact == act && (pver == "" || pver == ver)
	}
	return false
}

// Patterns returns the patterns that match eventType (see Match): eventType
// itself, "*", "resource.*", "*.action" and, for a versioned type,
// "*.action.vN". A store that indexes subscriptions by pattern looks up exactly
// these keys to fan an event out: every subscription Match would select has one
// of them among its patterns. For a string that is not an event type name the
// list is shorter ("*", and the string itself when it holds no wildcard).
func Patterns(eventType string) []string {
	if strings.IndexByte(eventType, '*') >= 0 {
		return []string{wildcard}
	}
	out := []string{eventType, wildcard}
	if res, act, ver, ok := ParseName(eventType); ok {
		out = append(out, res+".*", "*."+act)
		if ver != "" {
			out = append(out, "*."+act+"."+ver)
		}
	}
	return out
}

// validPart reports whether s is a non-empty run of lowercase ASCII letters,
// digits and underscores.
func validPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
