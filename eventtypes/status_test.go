package eventtypes

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOrderStateValid(t *testing.T) {
	for _, s := range []string{
		"pending", "voided", "timeouted", "cancelled", "failed", "refunded", "paid", "complete",
		"FULFILLED", "FAILED_PERMANENTLY",
	} {
		assert.True(t, OrderState(s).Valid(), s)
	}
	for _, s := range []string{"", "Pending", "PENDING", "fulfilled", "completed", "shipped", " paid"} {
		assert.False(t, OrderState(s).Valid(), s)
	}
	all := AllOrderStates()
	assert.Len(t, all, 10)
	for _, s := range all {
		assert.True(t, s.Valid(), s)
	}
}

func TestPaymentStateValid(t *testing.T) {
	want := []PaymentState{"requested", "pending", "held", "completed", "failed", "refunded", "cancelled", "timeouted"}
	assert.Equal(t, want, AllPaymentStates())
	for _, s := range want {
		assert.True(t, s.Valid(), s)
	}
	for _, s := range []PaymentState{"", "paid", "complete", "Completed", "voided"} {
		assert.False(t, s.Valid(), s)
	}
}

func TestFulfillmentStateValid(t *testing.T) {
	want := []FulfillmentState{"not_fulfilled", "fulfilled"}
	assert.Equal(t, want, AllFulfillmentStates())
	for _, s := range want {
		assert.True(t, s.Valid(), s)
	}
	for _, s := range []FulfillmentState{"", "FULFILLED", "unfulfilled", "partial"} {
		assert.False(t, s.Valid(), s)
	}
}

func TestAllStatesReturnsFreshSlices(t *testing.T) {
	AllOrderStates()[0] = "x"
	AllPaymentStates()[0] = "x"
	AllFulfillmentStates()[0] = "x"
	assert.Equal(t, OrderStatePending, AllOrderStates()[0])
	assert.Equal(t, PaymentStateRequested, AllPaymentStates()[0])
	assert.Equal(t, FulfillmentStateNotFulfilled, AllFulfillmentStates()[0])
}
