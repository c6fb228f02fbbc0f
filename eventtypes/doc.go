// Package eventtypes is the catalog of webhook event types an e-commerce store
// emits: their names, what they mean, and a sample payload for each.
//
// An event type is named resource.action ("order.created"). The built-in types
// are available as untyped string constants, so they can be passed wherever a
// string is expected. Subscriptions name the types they want, exactly or with
// the wildcards "order.*" (every order event) and "*" (every event); [Match]
// decides whether a pattern covers a type.
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
