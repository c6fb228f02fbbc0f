package eventtypes

// OrderState is the status of an order as carried in order payloads (the
// "status" field). The zero value is not a valid state.
type OrderState string

// Order states. The first eight are the order lifecycle; [OrderStateFulfilled]
// and [OrderStateFailedPermanently] are the upper-case values carried by
// [OrderStatus] ("order.status") events.
const (
	OrderStatePending   OrderState = "pending"
	OrderStateVoided    OrderState = "voided"
	OrderStateTimeouted OrderState = "timeouted"
	OrderStateCancelled OrderState = "cancelled"
	OrderStateFailed    OrderState = "failed"
	OrderStateRefunded  OrderState = "refunded"
	OrderStatePaid      OrderState = "paid"
	OrderStateComplete  OrderState = "complete"

	// OrderStateFulfilled is the order.status value for an order that was
	// fulfilled.
	OrderStateFulfilled OrderState = "FULFILLED"
	// OrderStateFailedPermanently is the order.status value for an order that
	// failed and will not be retried.
	OrderStateFailedPermanently OrderState = "FAILED_PERMANENTLY"
)

// AllOrderStates returns every [OrderState], lifecycle states first in the
// order listed above, then the two order.status values. The slice is the
// caller's to modify.
func AllOrderStates() []OrderState {
	return []OrderState{
		OrderStatePending, OrderStateVoided, OrderStateTimeouted, OrderStateCancelled,
		OrderStateFailed, OrderStateRefunded, OrderStatePaid, OrderStateComplete,
		OrderStateFulfilled, OrderStateFailedPermanently,
	}
}

// Valid reports whether s is one of the states returned by [AllOrderStates].
// The comparison is exact: "Pending" is not valid.
func (s OrderState) Valid() bool {
	switch s {
	case OrderStatePending, OrderStateVoided, OrderStateTimeouted, OrderStateCancelled,
		OrderStateFailed, OrderStateRefunded, OrderStatePaid, OrderStateComplete,
		OrderStateFulfilled, OrderStateFailedPermanently:
		return true
	}
	return false
}

// PaymentState is the status of a payment as carried in order and payment
// payloads. The zero value is not a valid state.
type PaymentState string

// Payment states.
const (
	PaymentStateRequested PaymentState = "requested"
	PaymentStatePending   PaymentState = "pending"
	PaymentStateHeld      PaymentState = "held"
	PaymentStateCompleted PaymentState = "completed"
	PaymentStateFailed    PaymentState = "failed"
	PaymentStateRefunded  PaymentState = "refunded"
	PaymentStateCancelled PaymentState = "cancelled"
	PaymentStateTimeouted PaymentState = "timeouted"
)

// AllPaymentStates returns every [PaymentState] in the order listed above. The
// slice is the caller's to modify.
func AllPaymentStates() []PaymentState {
	return []PaymentState{
		PaymentStateRequested, PaymentStatePending, PaymentStateHeld, PaymentStateCompleted,
		PaymentStateFailed, PaymentStateRefunded, PaymentStateCancelled, PaymentStateTimeouted,
	}
}

// Valid reports whether s is one of the states returned by [AllPaymentStates].
func (s PaymentState) Valid() bool {
	switch s {
	case PaymentStateRequested, PaymentStatePending, PaymentStateHeld, PaymentStateCompleted,
		PaymentStateFailed, PaymentStateRefunded, PaymentStateCancelled, PaymentStateTimeouted:
		return true
	}
	return false
}

// FulfillmentState is the fulfilment status of an order as carried in order
// payloads. The zero value is not a valid state.
type FulfillmentState string

// Fulfilment states.
const (
	FulfillmentStateNotFulfilled FulfillmentState = "not_fulfilled"
	FulfillmentStateFulfilled    FulfillmentState = "fulfilled"
)

// AllFulfillmentStates returns every [FulfillmentState] in the order listed
// above. The slice is the caller's to modify.
func AllFulfillmentStates() []FulfillmentState {
	return []FulfillmentState{FulfillmentStateNotFulfilled, FulfillmentStateFulfilled}
}

// Valid reports whether s is one of the states returned by
// [AllFulfillmentStates].
func (s FulfillmentState) Valid() bool {
	return s == FulfillmentStateNotFulfilled || s == FulfillmentStateFulfilled
}
