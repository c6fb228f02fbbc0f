// Package eventtypes is the catalog of webhook event types an e-commerce store
// emits: their names, what they mean, and a sample payload for each.
//
// An event type is named resource.action ("order.created"); an application
// that changes a type's payload registers the new shape as a versioned type of
// its own, resource.action.vN ("order.created.v2"). The built-in types are
// available as untyped string constants, so they can be passed wherever a
// string is expected. Subscriptions name the types they want, exactly or with
// a wildcard: "*" (every event), "order.*" (every order event, every version),
// "*.created" (every resource's created event, every version) or
// "*.created.v2". [Match] decides whether a pattern covers a type, and
// [Patterns] lists the patterns that cover one, for stores that index
// subscriptions by pattern.
//
// A [Catalog] is a value, not global state: [Default] returns a fresh catalog
// of the built-in types, and an application extends its own copy with
// [Catalog.Register] without affecting any other catalog.
//
//	cat := eventtypes.Default()
//	err := cat.Register(eventtypes.Type{
//		Name:        "subscription.renewed",
//		Description: "A customer's subscription was renewed.",
//		Sample:      json.RawMessage(`{"id":"sub_77","plan":"monthly"}`),
//	})
//	if err != nil {
//		return err // wraps ErrInvalidType or ErrDuplicate
//	}
//	if err := cat.Validate("order.creatd"); err != nil {
//		fmt.Println(err) // eventtypes: unknown event type "order.creatd" (did you mean "order.created"?)
//	}
//	t, _ := cat.Lookup(eventtypes.OrderCreated) // t.Sample is a realistic order
//
// The status vocabularies carried in payloads ([OrderState], [PaymentState],
// [FulfillmentState]) are typed constants with a Valid method.
package eventtypes
