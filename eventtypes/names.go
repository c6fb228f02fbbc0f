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

// wildcard is the pattern that matches every event type.
const wildcard = "*"

// SplitName splits an event type name "resource.action" into its two parts.
// ok is true when name holds exactly one dot with a non-empty part on each
// side; it does not check the characters of the parts (a pattern such as
// "order.*" splits into "order" and "*"). On failure both parts are empty.
func SplitName(name string) (resource, action string, ok bool) {
	resource, action, found := strings.Cut(name, ".")
	if !found || resource == "" || action == "" || strings.IndexByte(action, '.') >= 0 {
		return "", "", false
	}
	return resource, action, true
}

// Match reports whether the subscription pattern covers eventType. The pattern
// "*" matches every type; "resource.*" matches every "resource.<action>" with
// a non-empty action; any other pattern matches only the identical name. Match
// is pure, safe for concurrent use, and does not allocate.
func Match(pattern, eventType string) bool {
	if pattern == wildcard {
		return true
	}
	if n := len(pattern); n >= 3 && pattern[n-1] == '*' && pattern[n-2] == '.' {
		prefix := pattern[:n-1] // "order."
		if len(eventType) <= len(prefix) || eventType[:len(prefix)] != prefix {
			return false
		}
		return strings.IndexByte(eventType[len(prefix):], '.') < 0
	}
	return pattern == eventType
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
