package eventtypes_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shophooks/webhook/eventtypes"
)

func ExampleDefault() {
	cat := eventtypes.Default()
	fmt.Println(cat.Resources())
	fmt.Println(cat.Expand("payment.*"))
	// Output:
	// [customer order payment product shipping]
	// [payment.completed payment.failed payment.refunded]
}

func ExampleCatalog_Lookup() {
	cat := eventtypes.Default()
	t, ok := cat.Lookup(eventtypes.OrderCreated)
	fmt.Println(ok, t.Resource, t.Action)
	fmt.Println(t.Description)

	var order struct {
		ID     string                `json:"id"`
		Status eventtypes.OrderState `json:"status"`
	}
	if err := json.Unmarshal(t.Sample, &order); err != nil {
		panic(err)
	}
	fmt.Println(order.ID, order.Status, order.Status.Valid())
	// Output:
	// true order created
	// A customer placed an order; it is pending payment.
	// ord_1001 pending true
}

func ExampleCatalog_Register() {
	cat := eventtypes.Default()
	err := cat.Register(eventtypes.Type{
		Name:        "subscription.renewed",
		Description: "A customer's subscription was renewed.",
		Sample:      json.RawMessage(`{"id": "sub_77", "plan": "monthly"}`),
	})
	fmt.Println(err)

	t, _ := cat.Lookup("subscription.renewed")
	fmt.Println(t.Resource, t.Action, string(t.Sample))

	err = cat.Register(eventtypes.Type{Name: eventtypes.OrderCreated})
	fmt.Println(errors.Is(err, eventtypes.ErrDuplicate), err)

	err = cat.Register(eventtypes.Type{Name: "Subscription.Paused"})
	fmt.Println(errors.Is(err, eventtypes.ErrInvalidType))

	// Other catalogs are unaffected.
	_, ok := eventtypes.Default().Lookup("subscription.renewed")
	fmt.Println(ok)
	// Output:
	// <nil>
	// subscription renewed {"id":"sub_77","plan":"monthly"}
	// true eventtypes: duplicate event type "order.created"
	// true
	// false
}

func ExampleCatalog_Validate() {
	cat := eventtypes.Default()
	err := cat.Validate("order.creatd")
	fmt.Println(err)
	fmt.Println(errors.Is(err, eventtypes.ErrUnknownType))

	var unknown *eventtypes.UnknownTypeError
	if errors.As(err, &unknown) {
		fmt.Println(unknown.Suggestions)
	}
	// Output:
	// eventtypes: unknown event type "order.creatd" (did you mean "order.created"?)
	// true
	// [order.created]
}

func ExampleCatalog_ValidatePattern() {
	cat := eventtypes.Default()
	for _, p := range []string{"*", "order.*", "*.created", eventtypes.ShippingDelivered, "orders.*", "*.creatd"} {
		fmt.Println(p, cat.ValidatePattern(p))
	}
	// Output:
	// * <nil>
	// order.* <nil>
	// *.created <nil>
	// shipping.delivered <nil>
	// orders.* eventtypes: unknown event type "orders.*" (did you mean "order.*"?)
	// *.creatd eventtypes: unknown event type "*.creatd" (did you mean "*.created"?)
}

func ExampleMatch() {
	fmt.Println(eventtypes.Match("*", eventtypes.OrderCreated))
	fmt.Println(eventtypes.Match("order.*", eventtypes.OrderCreated))
	fmt.Println(eventtypes.Match("order.*", eventtypes.ProductCreated))
	fmt.Println(eventtypes.Match(eventtypes.OrderCreated, eventtypes.OrderCreated))
	// Every resource's created event, and versioned types of an application's catalog.
	fmt.Println(eventtypes.Match("*.created", eventtypes.CustomerCreated))
	fmt.Println(eventtypes.Match("order.*", "order.created.v2"))
	fmt.Println(eventtypes.Match("*.created", "order.created.v2"))
	fmt.Println(eventtypes.Match(eventtypes.OrderCreated, "order.created.v2"))
	// Output:
	// true
	// true
	// false
	// true
	// true
	// true
	// true
	// false
}

// A new version of a type whose payload changed is registered beside the old one;
// subscriptions choose the version they read.
func ExampleCatalog_Register_versioned() {
	cat := eventtypes.Default()
	err := cat.Register(eventtypes.Type{
		Name:        "order.created.v2",
		Description: "A customer placed an order (amounts in minor units).",
		Sample:      json.RawMessage(`{"id":"ord_1001","total_minor":5990}`),
	})
	if err != nil {
		panic(err)
	}
	t, _ := cat.Lookup("order.created.v2")
	fmt.Println(t.Resource, t.Action, t.Version)
	fmt.Println(cat.Expand("*.created.v2"))
	fmt.Println(cat.Expand("order.created"))
	// Output:
	// order created v2
	// [order.created.v2]
	// [order.created]
}

func ExampleSplitName() {
	resource, action, ok := eventtypes.SplitName(eventtypes.ProductInventoryUpdated)
	fmt.Println(resource, action, ok)
	// The query payload format names the resource ID after the resource.
	fmt.Println(resource + "_id")
	// Output:
	// product inventory_updated true
	// product_id
}
