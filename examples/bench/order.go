package main

import (
	"encoding/json"
	"fmt"
	"time"
)

// The data of every event the bench emits: an order, as an application passes it to Emit.
// -payload picks one of two: "1k" (the default), an order with a customer, two addresses
// and four lines whose JSON is about 1 KB, a typed struct as most applications have; or
// "small", the 210-byte map the bench used before.

// Order is an e-commerce order as an application would keep it.
type Order struct {
	ID              string    `json:"id"`
	Number          int       `json:"number"`
	Status          string    `json:"status"`
	FinancialStatus string    `json:"financial_status"`
	Currency        string    `json:"currency"`
	CreatedAt       time.Time `json:"created_at"`
	Customer        Customer  `json:"customer"`
	BillingAddress  Address   `json:"billing_address"`
	ShippingAddress Address   `json:"shipping_address"`
	Lines           []Line    `json:"lines"`
	DiscountCodes   []string  `json:"discount_codes"`
	Subtotal        string    `json:"subtotal"`
	Shipping        string    `json:"shipping"`
	Tax             string    `json:"tax"`
	Total           string    `json:"total"`
	Note            string    `json:"note,omitempty"`
	Tags            []string  `json:"tags"`
}

// Customer is who placed an Order.
type Customer struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Phone     string `json:"phone"`
}

// Address is a postal address of an Order.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Region     string `json:"region,omitempty"`
	Country    string `json:"country"`
}

// Line is one product line of an Order.
type Line struct {
	ID        string `json:"id"`
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int    `json:"quantity"`
	UnitPrice string `json:"unit_price"`
	Total     string `json:"total"`
	TaxRate   string `json:"tax_rate"`
}

// order1K is the default payload: its JSON is about 1 KB.
var order1K = func() *Order {
	addr := Address{Name: "Ann Example", Line1: "Kastanienallee 12", City: "Berlin", PostalCode: "10435", Country: "DE"}
	o := &Order{
		ID: "ord_9Q4K7M2N5P", Number: 100_245, Status: "open", FinancialStatus: "paid",
		Currency: "EUR", CreatedAt: time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC),
		Customer: Customer{ID: "cus_4F7K2M", Email: "ann.example@example.com",
			FirstName: "Ann", LastName: "Example", Phone: "+49 30 1234567"},
		BillingAddress: addr, ShippingAddress: addr,
		DiscountCodes: []string{"SPRING10"},
		Subtotal:      "149.80", Shipping: "4.90", Tax: "24.70", Total: "154.70",
		Tags: []string{"web"},
	}
	for i, l := range []struct {
		sku, name string
		qty       int
		price     string
	}{
		{"TSHIRT-ORG-M", "Organic T-shirt, M, navy", 2, "29.95"},
		{"MUG-STONE-350", "Stoneware mug 350 ml", 1, "18.00"},
		{"TOTE-CANVAS", "Canvas tote bag", 1, "34.40"},
	} {
		o.Lines = append(o.Lines, Line{ID: fmt.Sprintf("li_%08d", 7_310_000+i), SKU: l.sku, Name: l.name,
			Quantity: l.qty, UnitPrice: l.price, Total: l.price, TaxRate: "0.19"})
	}
	return o
}()

// orderSmall is the payload of earlier runs: a 210-byte map.
var orderSmall = map[string]any{
	"id": "ord_12345", "number": 1001, "total": "129.90", "currency": "EUR",
	"customer": map[string]any{"id": "cus_77", "email": "ann@example.com"},
	"lines":    []map[string]any{{"sku": "TSHIRT-M", "qty": 2, "price": "29.95"}, {"sku": "MUG", "qty": 1, "price": "70.00"}},
}

// order is the payload of this run, set from -payload.
var order any = order1K

// setPayload sets order from the -payload flag.
func setPayload(name string) error {
	switch name {
	case "1k":
		order = order1K
	case "small":
		order = orderSmall
	default:
		return fmt.Errorf("-payload %q: want 1k or small", name)
	}
	return nil
}

// payloadSize is the length of the order's JSON.
func payloadSize() int {
	b, err := json.Marshal(order)
	if err != nil {
		fatal(err)
	}
	return len(b)
}
