package eventtypes

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var builtinNames = []string{
	OrderCreated, OrderUpdated, OrderFulfilled, OrderCancelled, OrderStatus,
	ProductCreated, ProductUpdated, ProductDeleted, ProductInventoryUpdated,
	CustomerCreated, CustomerUpdated, CustomerDeleted,
	PaymentCompleted, PaymentFailed, PaymentRefunded,
	ShippingLabelCreated, ShippingTrackingUpdated, ShippingDelivered,
}

func TestDefaultHoldsEveryBuiltin(t *testing.T) {
	cat := Default()
	require.Len(t, cat.All(), len(builtinNames))
	for _, name := range builtinNames {
		t.Run(name, func(t *testing.T) {
			typ, ok := cat.Lookup(name)
			require.True(t, ok)
			res, act, ok := SplitName(name)
			require.True(t, ok)
			assert.Equal(t, name, typ.Name)
			assert.Equal(t, res, typ.Resource)
			assert.Equal(t, act, typ.Action)
			assert.NotEmpty(t, typ.Description)
			assert.NoError(t, cat.Validate(name))

			var obj map[string]any
			require.NoError(t, json.Unmarshal(typ.Sample, &obj), "sample must be a JSON object")
			id, ok := obj["id"].(string)
			assert.True(t, ok, "sample needs a string id")
			assert.NotEmpty(t, id)
		})
	}
}

func TestBuiltinSamplesUseTheStatusVocabulary(t *testing.T) {
	cat := Default()
	for _, typ := range cat.All() {
		var obj struct {
			Status            *string `json:"status"`
			PaymentStatus     *string `json:"payment_status"`
			FulfillmentStatus *string `json:"fulfillment_status"`
		}
		require.NoError(t, json.Unmarshal(typ.Sample, &obj), typ.Name)
		switch typ.Resource {
		case "order":
			require.NotNil(t, obj.Status, typ.Name)
			assert.True(t, OrderState(*obj.Status).Valid(), typ.Name)
		case "payment":
			require.NotNil(t, obj.Status, typ.Name)
			assert.True(t, PaymentState(*obj.Status).Valid(), typ.Name)
		}
		if obj.PaymentStatus != nil {
			assert.True(t, PaymentState(*obj.PaymentStatus).Valid(), typ.Name)
		}
		if obj.FulfillmentStatus != nil {
			assert.True(t, FulfillmentState(*obj.FulfillmentStatus).Valid(), typ.Name)
		}
	}
	st, _ := cat.Lookup(OrderStatus)
	assert.Contains(t, string(st.Sample), `"status":"FULFILLED"`)
}

func TestDefaultIsDeterministic(t *testing.T) {
	assert.Equal(t, Default().All(), Default().All())
}

func TestDefaultCatalogsAreIndependent(t *testing.T) {
	a, b := Default(), Default()
	require.NoError(t, a.Register(Type{Name: "subscription.renewed"}))

	_, ok := b.Lookup("subscription.renewed")
	assert.False(t, ok)
	assert.Len(t, b.All(), len(builtinNames))
	assert.Len(t, a.All(), len(builtinNames)+1)

	// Changing a returned sample changes nothing stored.
	typ, _ := a.Lookup(OrderCreated)
	typ.Sample[0] = 'X'
	all := a.All()
	all[0].Sample[0] = 'X'
	for _, c := range []*Catalog{a, b} {
		got, _ := c.Lookup(OrderCreated)
		assert.True(t, json.Valid(got.Sample))
		assert.True(t, json.Valid(c.All()[0].Sample))
	}
}

func TestRegister(t *testing.T) {
	tests := []struct {
		name    string
		typ     Type
		wantErr error
		check   func(t *testing.T, got Type)
	}{
		{
			name: "custom type with sample",
			typ: Type{
				Name: "subscription.renewed", Description: "A subscription renewed.",
				Sample: json.RawMessage("{\n  \"id\": \"sub_77\",\n  \"plan\": \"monthly\"\n}"),
			},
			check: func(t *testing.T, got Type) {
				assert.Equal(t, "subscription", got.Resource)
				assert.Equal(t, "renewed", got.Action)
				assert.Equal(t, "A subscription renewed.", got.Description)
				assert.JSONEq(t, `{"id":"sub_77","plan":"monthly"}`, string(got.Sample))
				assert.Equal(t, `{"id":"sub_77","plan":"monthly"}`, string(got.Sample), "stored compacted")
			},
		},
		{
			name: "generated sample",
			typ:  Type{Name: "gift_card.issued"},
			check: func(t *testing.T, got Type) {
				assert.Equal(t, `{"id":"gift_card_sample"}`, string(got.Sample))
			},
		},
		{
			name: "matching resource and action",
			typ:  Type{Name: "review.posted", Resource: "review", Action: "posted", Sample: json.RawMessage(`{"id":"r1"}`)},
		},
		{name: "digits allowed", typ: Type{Name: "order2.v2_created"}},
		{name: "duplicate builtin", typ: Type{Name: OrderCreated}, wantErr: ErrDuplicate},
		{name: "empty name", typ: Type{Name: ""}, wantErr: ErrInvalidType},
		{name: "no dot", typ: Type{Name: "ordercreated"}, wantErr: ErrInvalidType},
		{
			name: "versioned",
			typ:  Type{Name: "order.created.v2"},
			check: func(t *testing.T, got Type) {
				assert.Equal(t, "order", got.Resource)
				assert.Equal(t, "created", got.Action)
				assert.Equal(t, "v2", got.Version)
			},
		},
		{name: "matching version", typ: Type{Name: "order.created.v10", Version: "v10"}},
		{name: "other version", typ: Type{Name: "order.created.v3", Version: "v2"}, wantErr: ErrInvalidType},
		{name: "version without v", typ: Type{Name: "order.created.2"}, wantErr: ErrInvalidType},
		{name: "version v0", typ: Type{Name: "order.created.v0"}, wantErr: ErrInvalidType},
		{name: "version with a leading zero", typ: Type{Name: "order.created.v02"}, wantErr: ErrInvalidType},
		{name: "third part not a version", typ: Type{Name: "shipping.label.created"}, wantErr: ErrInvalidType},
		{name: "four parts", typ: Type{Name: "order.created.v2.v3"}, wantErr: ErrInvalidType},
		{name: "wildcard", typ: Type{Name: "order.*"}, wantErr: ErrInvalidType},
		{name: "uppercase", typ: Type{Name: "Order.Created"}, wantErr: ErrInvalidType},
		{name: "empty resource", typ: Type{Name: ".created"}, wantErr: ErrInvalidType},
		{name: "empty action", typ: Type{Name: "order."}, wantErr: ErrInvalidType},
		{name: "hyphen", typ: Type{Name: "gift-card.issued"}, wantErr: ErrInvalidType},
		{name: "space", typ: Type{Name: "gift card.issued"}, wantErr: ErrInvalidType},
		{name: "wildcard", typ: Type{Name: "gift_card.*"}, wantErr: ErrInvalidType},
		{name: "non-ascii", typ: Type{Name: "commande.créée"}, wantErr: ErrInvalidType},
		{name: "resource disagrees", typ: Type{Name: "review.posted", Resource: "order"}, wantErr: ErrInvalidType},
		{name: "action disagrees", typ: Type{Name: "review.posted", Action: "created"}, wantErr: ErrInvalidType},
		{name: "sample not JSON", typ: Type{Name: "review.posted", Sample: json.RawMessage(`{"id":`)}, wantErr: ErrInvalidType},
		{name: "sample array", typ: Type{Name: "review.posted", Sample: json.RawMessage(`[{"id":"r1"}]`)}, wantErr: ErrInvalidType},
		{name: "sample string", typ: Type{Name: "review.posted", Sample: json.RawMessage(`"r1"`)}, wantErr: ErrInvalidType},
		{name: "sample null", typ: Type{Name: "review.posted", Sample: json.RawMessage(`null`)}, wantErr: ErrInvalidType},
		{name: "sample trailing garbage", typ: Type{Name: "review.posted", Sample: json.RawMessage(`{"id":"r1"} x`)}, wantErr: ErrInvalidType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat := Default()
			err := cat.Register(tt.typ)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Regexp(t, `^eventtypes: [a-z]`, err.Error())
				assert.Contains(t, err.Error(), fmt.Sprintf("%q", tt.typ.Name))
				assert.Len(t, cat.All(), len(builtinNames), "a refused type is not stored")
				return
			}
			require.NoError(t, err)
			got, ok := cat.Lookup(tt.typ.Name)
			require.True(t, ok)
			assert.Equal(t, tt.typ.Name, got.Name)
			assert.True(t, json.Valid(got.Sample))
			assert.NoError(t, cat.Validate(tt.typ.Name))
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestRegisterCopiesSample(t *testing.T) {
	var cat Catalog // the zero value is usable
	sample := json.RawMessage(`{"id":"r1"}`)
	require.NoError(t, cat.Register(Type{Name: "review.posted", Sample: sample}))
	copy(sample, `{"id":"XX"}`)
	got, _ := cat.Lookup("review.posted")
	assert.Equal(t, `{"id":"r1"}`, string(got.Sample))
}

func TestRegisterDuplicateCustom(t *testing.T) {
	var cat Catalog
	require.NoError(t, cat.Register(Type{Name: "review.posted"}))
	err := cat.Register(Type{Name: "review.posted", Description: "again"})
	require.ErrorIs(t, err, ErrDuplicate)
	assert.EqualError(t, err, `eventtypes: duplicate event type "review.posted"`)
	got, _ := cat.Lookup("review.posted")
	assert.Empty(t, got.Description, "the first registration stands")
}

func TestNew(t *testing.T) {
	cat, err := New(Type{Name: "b.y"}, Type{Name: "a.x"}, Type{Name: "a.z"})
	require.NoError(t, err)
	names := make([]string, 0, 3)
	for _, typ := range cat.All() {
		names = append(names, typ.Name)
	}
	assert.Equal(t, []string{"a.x", "a.z", "b.y"}, names)

	empty, err := New()
	require.NoError(t, err)
	assert.Empty(t, empty.All())

	_, err = New(Type{Name: "a.x"}, Type{Name: "a.x"})
	assert.ErrorIs(t, err, ErrDuplicate)
	_, err = New(Type{Name: "a.x"}, Type{Name: "A.x"})
	assert.ErrorIs(t, err, ErrInvalidType)
}

func TestAllIsSortedCopy(t *testing.T) {
	cat := Default()
	require.NoError(t, cat.Register(Type{Name: "aaa.first"}))
	all := cat.All()
	assert.True(t, slices.IsSortedFunc(all, func(a, b Type) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	}))
	assert.Equal(t, "aaa.first", all[0].Name)
	all[0].Name = "changed"
	assert.Equal(t, "aaa.first", cat.All()[0].Name)
}

func TestResources(t *testing.T) {
	cat := Default()
	assert.Equal(t, []string{"customer", "order", "payment", "product", "shipping"}, cat.Resources())

	// "order_note" sorts after "order" though its names sort between orders'.
	require.NoError(t, cat.Register(Type{Name: "order_note.added"}))
	require.NoError(t, cat.Register(Type{Name: "a.b"}))
	assert.Equal(t, []string{"a", "customer", "order", "order_note", "payment", "product", "shipping"}, cat.Resources())

	var empty Catalog
	assert.Empty(t, empty.Resources())
}

func TestValidate(t *testing.T) {
	cat := Default()
	tests := []struct {
		name            string
		wantSuggestions []string
		wantMsg         string
	}{
		{name: OrderCreated},
		{name: ShippingTrackingUpdated},
		{
			name:            "order.creatd",
			wantSuggestions: []string{OrderCreated},
			wantMsg:         `eventtypes: unknown event type "order.creatd" (did you mean "order.created"?)`,
		},
		{name: "order.cretaed", wantSuggestions: []string{OrderCreated}}, // transposition
		{name: "Order.Created", wantSuggestions: []string{OrderCreated}},
		{name: "orders.created", wantSuggestions: []string{OrderCreated}},
		{name: "order_created", wantSuggestions: []string{OrderCreated}},
		{name: "order.canceled", wantSuggestions: []string{OrderCancelled}},
		{name: "product.inventory_update", wantSuggestions: []string{ProductInventoryUpdated}},
		{
			name:            "customer.deleted_x",
			wantSuggestions: []string{CustomerDeleted},
		},
		{
			name:            "payment.xailed",
			wantSuggestions: []string{PaymentFailed},
		},
		{name: "order.creates", wantSuggestions: []string{OrderCreated}}, // not "order.updated" too
		{
			name:            "customer.dated",
			wantSuggestions: []string{CustomerUpdated, CustomerCreated, CustomerDeleted},
			wantMsg:         `eventtypes: unknown event type "customer.dated" (did you mean "customer.updated", "customer.created" or "customer.deleted"?)`,
		},
		{name: "shipping.label", wantSuggestions: []string{ShippingLabelCreated}},
		{name: "product.inventory", wantSuggestions: []string{ProductInventoryUpdated}},
		{name: "invoice.paid", wantMsg: `eventtypes: unknown event type "invoice.paid"`},
		{name: "", wantMsg: `eventtypes: unknown event type ""`},
		{name: "order.*"}, // Validate takes names, not patterns
		{name: "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cat.Validate(tt.name)
			if _, known := cat.Lookup(tt.name); known {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrUnknownType)
			assert.NotErrorIs(t, err, ErrInvalidType)
			var ute *UnknownTypeError
			require.ErrorAs(t, err, &ute)
			assert.Equal(t, tt.name, ute.Name)
			if tt.wantSuggestions != nil {
				assert.Equal(t, tt.wantSuggestions, ute.Suggestions)
			}
			if tt.wantMsg != "" {
				assert.EqualError(t, err, tt.wantMsg)
			}
		})
	}
}

func TestValidateSuggestsAtMostThree(t *testing.T) {
	cat, err := New(Type{Name: "a.b1"}, Type{Name: "a.b2"}, Type{Name: "a.b3"}, Type{Name: "a.b4"}, Type{Name: "a.bb"})
	require.NoError(t, err)
	var ute *UnknownTypeError
	require.ErrorAs(t, cat.Validate("a.b"), &ute)
	assert.Equal(t, []string{"a.b1", "a.b2", "a.b3"}, ute.Suggestions)
	assert.EqualError(t, ute, `eventtypes: unknown event type "a.b" (did you mean "a.b1", "a.b2" or "a.b3"?)`)
}

func TestValidateHugeInput(t *testing.T) {
	name := string(make([]byte, 1<<20))
	var ute *UnknownTypeError
	require.ErrorAs(t, Default().Validate(name), &ute)
	assert.Empty(t, ute.Suggestions)
}

func TestUnknownTypeErrorWrapped(t *testing.T) {
	err := fmt.Errorf("webhook: subscription field Events: %w", Default().Validate("order.nope"))
	assert.ErrorIs(t, err, ErrUnknownType)
	var ute *UnknownTypeError
	assert.True(t, errors.As(err, &ute))
}

func TestValidatePattern(t *testing.T) {
	cat := Default()
	require.NoError(t, cat.Register(Type{Name: "gift_card.issued"}))
	tests := []struct {
		pattern         string
		ok              bool
		wantSuggestions []string
	}{
		{pattern: "*", ok: true},
		{pattern: OrderCreated, ok: true},
		{pattern: "gift_card.issued", ok: true},
		{pattern: "order.*", ok: true},
		{pattern: "shipping.*", ok: true},
		{pattern: "gift_card.*", ok: true},
		{pattern: "orders.*", wantSuggestions: []string{"order.*"}},
		{pattern: "prodcut.*", wantSuggestions: []string{"product.*"}},
		{pattern: "order", wantSuggestions: []string{"order.*"}},
		{pattern: "order.creatd", wantSuggestions: []string{OrderCreated}},
		{pattern: "invoice.*"},
		{pattern: "*.created", ok: true},
		{pattern: "*.issued", ok: true},
		{pattern: "*.label_created", ok: true},
		{pattern: "*.creatd", wantSuggestions: []string{"*.created"}},
		{pattern: "*.shipped"},
		{pattern: "*.created.v2"}, // no v2 registered here
		{pattern: "*.*"},
		{pattern: "order.*.v2"},
		{pattern: "order.created.*"},
		{pattern: "*created"},
		{pattern: "order*"},
		{pattern: "**"},
		{pattern: ".*"},
		{pattern: ""},
		{pattern: "order.* "},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			err := cat.ValidatePattern(tt.pattern)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnknownType)
			var ute *UnknownTypeError
			require.ErrorAs(t, err, &ute)
			assert.Equal(t, tt.pattern, ute.Name)
			if tt.wantSuggestions != nil {
				assert.Equal(t, tt.wantSuggestions, ute.Suggestions)
			}
			assert.Empty(t, cat.Expand(tt.pattern), "a refused pattern matches nothing")
		})
	}

	var empty Catalog
	assert.NoError(t, empty.ValidatePattern("*"))
	assert.Error(t, empty.ValidatePattern("order.*"))
}

func TestExpand(t *testing.T) {
	cat := Default()
	tests := []struct {
		name     string
		patterns []string
		want     []string
	}{
		{"nothing", nil, nil},
		{"everything", []string{"*"}, slices.Sorted(slices.Values(builtinNames))},
		{"one resource", []string{"payment.*"}, []string{PaymentCompleted, PaymentFailed, PaymentRefunded}},
		{"exact", []string{OrderStatus}, []string{OrderStatus}},
		{
			"overlapping and unsorted",
			[]string{ShippingDelivered, "shipping.*", OrderCreated, OrderCreated},
			[]string{OrderCreated, ShippingDelivered, ShippingLabelCreated, ShippingTrackingUpdated},
		},
		{"unknown ignored", []string{"invoice.*", "order.nope", CustomerDeleted}, []string{CustomerDeleted}},
		{"unknown only", []string{"invoice.*"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cat.Expand(tt.patterns...)
			if tt.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// Run under -race: Register, Lookup, Validate and listing from many
// goroutines at once.
func TestCatalogConcurrentUse(t *testing.T) {
	cat := Default()
	const goroutines, perGoroutine = 16, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				name := fmt.Sprintf("custom%d.event%d", g, i)
				assert.NoError(t, cat.Register(Type{Name: name}))
				got, ok := cat.Lookup(name)
				assert.True(t, ok)
				assert.Equal(t, name, got.Name)
				assert.ErrorIs(t, cat.Register(Type{Name: OrderCreated}), ErrDuplicate)
				_, ok = cat.Lookup(OrderCreated)
				assert.True(t, ok)
				assert.NoError(t, cat.Validate(name))
				assert.NoError(t, cat.ValidatePattern(fmt.Sprintf("custom%d.*", g)))
				_ = cat.All()
				_ = cat.Resources()
				_ = cat.Expand("order.*", name)
			}
		})
	}
	wg.Wait()
	assert.Len(t, cat.All(), len(builtinNames)+goroutines*perGoroutine)
	assert.Len(t, cat.Expand("custom3.*"), perGoroutine)
}

func FuzzValidatePattern(f *testing.F) {
	for _, s := range []string{"*", "order.*", "order.created", "order.creatd", "*.created", ".*", "", "Order.*",
		"*.created.v2", "order.created.v2", "*.updated.v2", "order.*.v2", "*.*"} {
		f.Add(s)
	}
	cat := Default()
	if err := cat.Register(Type{Name: "order.created.v2"}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		err := cat.ValidatePattern(pattern)
		matched := cat.Expand(pattern)
		if err == nil {
			if len(matched) == 0 {
				t.Fatalf("ValidatePattern(%q) accepted a pattern that matches nothing", pattern)
			}
			return
		}
		if !errors.Is(err, ErrUnknownType) {
			t.Fatalf("ValidatePattern(%q) = %v, want ErrUnknownType", pattern, err)
		}
		if len(matched) != 0 {
			t.Fatalf("ValidatePattern(%q) refused a pattern that matches %v", pattern, matched)
		}
	})
}
