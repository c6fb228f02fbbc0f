package eventtypes

import (
	"bytes"
	"encoding/json"
)

// builtinTypes returns the built-in types, freshly built on every call so
// that no catalog shares memory with another.
func builtinTypes() []Type {
	return []Type{
		{Name: OrderCreated, Description: "A customer placed an order; it is pending payment.",
			Sample: sample(newSampleOrder())},
		{Name: OrderUpdated, Description: "An order changed: its status, payment, addresses or items.",
			Sample: sample(paidOrder())},
		{Name: OrderFulfilled, Description: "Every item of an order was shipped or handed over; the order is complete.",
			Sample: sample(fulfilledOrder())},
		{Name: OrderCancelled, Description: "An order was cancelled by the customer or the merchant.",
			Sample: sample(cancelledOrder())},
		{Name: OrderStatus, Description: "An order's processing status changed to FULFILLED or FAILED_PERMANENTLY.",
			Sample: sample(sampleOrderStatus{
				ID: "ord_1001", Number: "1001", Status: OrderStateFulfilled, UpdatedAt: "2024-05-02T17:45:00Z",
			})},

		{Name: ProductCreated, Description: "A product was added to the store.",
			Sample: sample(newSampleProduct())},
		{Name: ProductUpdated, Description: "A product's title, price, description or other details changed.",
			Sample: sample(updatedProduct())},
		{Name: ProductDeleted, Description: "A product was removed from the store.",
			Sample: sample(sampleDeleted{ID: "prod_2001", DeletedAt: "2024-06-30T18:00:00Z"})},
		{Name: ProductInventoryUpdated, Description: "The stock level of a product changed.",
			Sample: sample(sampleInventory{
				ID: "prod_2001", SKU: "TSHIRT-BLK-M", Location: "main-warehouse",
				InventoryQuantity: 40, PreviousQuantity: 42, Change: -2, UpdatedAt: "2024-05-01T10:15:03Z",
			})},

		{Name: CustomerCreated, Description: "A customer account was created.",
			Sample: sample(newSampleCustomer())},
		{Name: CustomerUpdated, Description: "A customer's contact details or preferences changed.",
			Sample: sample(updatedCustomer())},
		{Name: CustomerDeleted, Description: "A customer account was deleted along with its personal data.",
			Sample: sample(sampleDeleted{ID: "cus_501", DeletedAt: "2024-07-15T08:00:00Z"})},

		{Name: PaymentCompleted, Description: "A payment for an order was captured.",
			Sample: sample(newSamplePayment())},
		{Name: PaymentFailed, Description: "A payment attempt for an order was declined or failed.",
			Sample: sample(failedPayment())},
		{Name: PaymentRefunded, Description: "A payment was refunded to the customer, in full or in part.",
			Sample: sample(refundedPayment())},

		{Name: ShippingLabelCreated, Description: "A shipping label was created for an order's shipment.",
			Sample: sample(newSampleShipment())},
		{Name: ShippingTrackingUpdated, Description: "The carrier reported a new tracking status for a shipment.",
			Sample: sample(inTransitShipment())},
		{Name: ShippingDelivered, Description: "The carrier delivered a shipment to its recipient.",
			Sample: sample(deliveredShipment())},
	}
}

// sample encodes v as compact JSON. The values are fixed, so the output is
// the same on every call.
func sample(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("eventtypes: encoding a built-in sample: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Orders.

type sampleOrder struct {
	ID                string           `json:"id"`
	Number            string           `json:"number"`
	Status            OrderState       `json:"status"`
	PaymentStatus     PaymentState     `json:"payment_status"`
	FulfillmentStatus FulfillmentState `json:"fulfillment_status"`
	Currency          string           `json:"currency"`
	Customer          sampleOrderBuyer `json:"customer"`
	LineItems         []sampleLineItem `json:"line_items"`
	Subtotal          string           `json:"subtotal"`
	ShippingTotal     string           `json:"shipping_total"`
	DiscountTotal     string           `json:"discount_total"`
	TaxTotal          string           `json:"tax_total"`
	TaxesIncluded     bool             `json:"taxes_included"`
	Total             string           `json:"total"`
	ShippingAddress   sampleAddress    `json:"shipping_address"`
	CreatedAt         string           `json:"created_at"`
	UpdatedAt         string           `json:"updated_at"`
	CancelledAt       string           `json:"cancelled_at,omitempty"`
	CancelReason      string           `json:"cancel_reason,omitempty"`
}

type sampleOrderBuyer struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

type sampleLineItem struct {
	ID        string `json:"id"`
	ProductID string `json:"product_id"`
	SKU       string `json:"sku"`
	Title     string `json:"title"`
	Variant   string `json:"variant"`
	Quantity  int    `json:"quantity"`
	UnitPrice string `json:"unit_price"`
	Total     string `json:"total"`
}

type sampleAddress struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
	Phone      string `json:"phone"`
}

type sampleOrderStatus struct {
	ID        string     `json:"id"`
	Number    string     `json:"number"`
	Status    OrderState `json:"status"`
	UpdatedAt string     `json:"updated_at"`
}

func newSampleOrder() sampleOrder {
	return sampleOrder{
		ID:                "ord_1001",
		Number:            "1001",
		Status:            OrderStatePending,
		PaymentStatus:     PaymentStatePending,
		FulfillmentStatus: FulfillmentStateNotFulfilled,
		Currency:          "EUR",
		Customer: sampleOrderBuyer{
			ID: "cus_501", Email: "ada.lovelace@example.com", FirstName: "Ada", LastName: "Lovelace",
		},
		LineItems: []sampleLineItem{
			{ID: "li_1", ProductID: "prod_2001", SKU: "TSHIRT-BLK-M", Title: "Organic cotton T-shirt",
				Variant: "Black / M", Quantity: 2, UnitPrice: "19.90", Total: "39.80"},
			{ID: "li_2", ProductID: "prod_2002", SKU: "MUG-WHT", Title: "Enamel mug",
				Variant: "White", Quantity: 1, UnitPrice: "12.50", Total: "12.50"},
		},
		Subtotal:      "52.30",
		ShippingTotal: "4.90",
		DiscountTotal: "5.00",
		TaxTotal:      "8.70", // 20% VAT included in 52.20
		TaxesIncluded: true,
		Total:         "52.20",
		ShippingAddress: sampleAddress{
			Name: "Ada Lovelace", Line1: "12 St James's Square", City: "London",
			PostalCode: "SW1Y 4JH", Country: "GB", Phone: "+44 20 7946 0000",
		},
		CreatedAt: "2024-05-01T10:15:00Z",
		UpdatedAt: "2024-05-01T10:15:00Z",
	}
}

func paidOrder() sampleOrder {
	o := newSampleOrder()
	o.Status, o.PaymentStatus = OrderStatePaid, PaymentStateCompleted
	o.UpdatedAt = "2024-05-01T10:16:12Z"
	return o
}

func fulfilledOrder() sampleOrder {
	o := paidOrder()
	o.Status, o.FulfillmentStatus = OrderStateComplete, FulfillmentStateFulfilled
	o.UpdatedAt = "2024-05-02T17:45:00Z"
	return o
}

func cancelledOrder() sampleOrder {
	o := newSampleOrder()
	o.Status, o.PaymentStatus = OrderStateCancelled, PaymentStateCancelled
	o.UpdatedAt = "2024-05-01T11:02:45Z"
	o.CancelledAt, o.CancelReason = "2024-05-01T11:02:45Z", "customer"
	return o
}

// Products.

type sampleProduct struct {
	ID                string `json:"id"`
	Title             string `json:"title"`
	Handle            string `json:"handle"`
	Description       string `json:"description"`
	Vendor            string `json:"vendor"`
	SKU               string `json:"sku"`
	Price             string `json:"price"`
	CompareAtPrice    string `json:"compare_at_price,omitempty"`
	Currency          string `json:"currency"`
	InventoryQuantity int    `json:"inventory_quantity"`
	Status            string `json:"status"`
	CreatedAt         string `json:"created_at"`
	UpdatedAt         string `json:"updated_at"`
}

type sampleInventory struct {
	ID                string `json:"id"`
	SKU               string `json:"sku"`
	Location          string `json:"location"`
	InventoryQuantity int    `json:"inventory_quantity"`
	PreviousQuantity  int    `json:"previous_quantity"`
	Change            int    `json:"change"`
	UpdatedAt         string `json:"updated_at"`
}

type sampleDeleted struct {
	ID        string `json:"id"`
	DeletedAt string `json:"deleted_at"`
}

func newSampleProduct() sampleProduct {
	return sampleProduct{
		ID:                "prod_2001",
		Title:             "Organic cotton T-shirt",
		Handle:            "organic-cotton-t-shirt",
		Description:       "Heavyweight T-shirt in GOTS-certified organic cotton.",
		Vendor:            "Northwind Apparel",
		SKU:               "TSHIRT-BLK-M",
		Price:             "19.90",
		Currency:          "EUR",
		InventoryQuantity: 42,
		Status:            "active",
		CreatedAt:         "2024-04-20T09:00:00Z",
		UpdatedAt:         "2024-04-20T09:00:00Z",
	}
}

func updatedProduct() sampleProduct {
	p := newSampleProduct()
	p.Price, p.CompareAtPrice = "17.90", "19.90"
	p.UpdatedAt = "2024-05-10T07:30:00Z"
	return p
}

// Customers.

type sampleCustomer struct {
	ID               string        `json:"id"`
	Email            string        `json:"email"`
	FirstName        string        `json:"first_name"`
	LastName         string        `json:"last_name"`
	Phone            string        `json:"phone"`
	AcceptsMarketing bool          `json:"accepts_marketing"`
	OrdersCount      int           `json:"orders_count"`
	TotalSpent       string        `json:"total_spent"`
	Currency         string        `json:"currency"`
	DefaultAddress   sampleAddress `json:"default_address"`
	CreatedAt        string        `json:"created_at"`
	UpdatedAt        string        `json:"updated_at"`
}

func newSampleCustomer() sampleCustomer {
	return sampleCustomer{
		ID:         "cus_501",
		Email:      "ada.lovelace@example.com",
		FirstName:  "Ada",
		LastName:   "Lovelace",
		Phone:      "+44 20 7946 0000",
		TotalSpent: "0.00",
		Currency:   "EUR",
		DefaultAddress: sampleAddress{
			Name: "Ada Lovelace", Line1: "12 St James's Square", City: "London",
			PostalCode: "SW1Y 4JH", Country: "GB", Phone: "+44 20 7946 0000",
		},
		CreatedAt: "2024-05-01T10:12:30Z",
		UpdatedAt: "2024-05-01T10:12:30Z",
	}
}

func updatedCustomer() sampleCustomer {
	c := newSampleCustomer()
	c.AcceptsMarketing = true
	c.OrdersCount, c.TotalSpent = 1, "52.20"
	c.UpdatedAt = "2024-05-02T14:05:00Z"
	return c
}

// Payments.

type samplePayment struct {
	ID             string       `json:"id"`
	OrderID        string       `json:"order_id"`
	Status         PaymentState `json:"status"`
	Amount         string       `json:"amount"`
	AmountRefunded string       `json:"amount_refunded"`
	Currency       string       `json:"currency"`
	Method         string       `json:"method"`
	CardBrand      string       `json:"card_brand"`
	CardLast4      string       `json:"card_last4"`
	Gateway        string       `json:"gateway"`
	GatewayRef     string       `json:"gateway_reference"`
	FailureCode    string       `json:"failure_code,omitempty"`
	FailureMessage string       `json:"failure_message,omitempty"`
	RefundReason   string       `json:"refund_reason,omitempty"`
	CreatedAt      string       `json:"created_at"`
	UpdatedAt      string       `json:"updated_at"`
}

func newSamplePayment() samplePayment {
	return samplePayment{
		ID:             "pay_3001",
		OrderID:        "ord_1001",
		Status:         PaymentStateCompleted,
		Amount:         "52.20",
		AmountRefunded: "0.00",
		Currency:       "EUR",
		Method:         "card",
		CardBrand:      "visa",
		CardLast4:      "4242",
		Gateway:        "stripe",
		GatewayRef:     "ch_3PBx2aExample",
		CreatedAt:      "2024-05-01T10:16:10Z",
		UpdatedAt:      "2024-05-01T10:16:12Z",
	}
}

func failedPayment() samplePayment {
	p := newSamplePayment()
	p.ID, p.Status = "pay_3000", PaymentStateFailed
	p.CardLast4, p.GatewayRef = "0002", "ch_3PBx1zExample"
	p.FailureCode, p.FailureMessage = "card_declined", "Your card was declined."
	p.CreatedAt, p.UpdatedAt = "2024-05-01T10:15:40Z", "2024-05-01T10:15:42Z"
	return p
}

func refundedPayment() samplePayment {
	p := newSamplePayment()
	p.Status, p.AmountRefunded = PaymentStateRefunded, "52.20"
	p.RefundReason = "requested_by_customer"
	p.UpdatedAt = "2024-05-20T12:00:00Z"
	return p
}

// Shipping.

type sampleShipment struct {
	ID             string              `json:"id"`
	OrderID        string              `json:"order_id"`
	Status         string              `json:"status"`
	Carrier        string              `json:"carrier"`
	Service        string              `json:"service"`
	TrackingNumber string              `json:"tracking_number"`
	TrackingURL    string              `json:"tracking_url"`
	LabelURL       string              `json:"label_url"`
	WeightGrams    int                 `json:"weight_grams"`
	ShipTo         sampleAddress       `json:"ship_to"`
	Events         []sampleTrackingHop `json:"tracking_events"`
	EstimatedAt    string              `json:"estimated_delivery_at,omitempty"`
	DeliveredAt    string              `json:"delivered_at,omitempty"`
	CreatedAt      string              `json:"created_at"`
	UpdatedAt      string              `json:"updated_at"`
}

type sampleTrackingHop struct {
	Status     string `json:"status"`
	Message    string `json:"message"`
	Location   string `json:"location"`
	OccurredAt string `json:"occurred_at"`
}

func newSampleShipment() sampleShipment {
	return sampleShipment{
		ID:             "shp_4001",
		OrderID:        "ord_1001",
		Status:         "label_created",
		Carrier:        "dhl",
		Service:        "DHL Parcel International",
		TrackingNumber: "JJD000390007819912345",
		TrackingURL:    "https://tracking.example.com/dhl/JJD000390007819912345",
		LabelURL:       "https://labels.example.com/shp_4001.pdf",
		WeightGrams:    640,
		ShipTo: sampleAddress{
			Name: "Ada Lovelace", Line1: "12 St James's Square", City: "London",
			PostalCode: "SW1Y 4JH", Country: "GB", Phone: "+44 20 7946 0000",
		},
		Events: []sampleTrackingHop{
			{Status: "label_created", Message: "Shipping label created", Location: "Leipzig, DE",
				OccurredAt: "2024-05-02T08:30:00Z"},
		},
		EstimatedAt: "2024-05-06T18:00:00Z",
		CreatedAt:   "2024-05-02T08:30:00Z",
		UpdatedAt:   "2024-05-02T08:30:00Z",
	}
}

func inTransitShipment() sampleShipment {
	s := newSampleShipment()
	s.Status = "in_transit"
	s.Events = append(s.Events,
		sampleTrackingHop{Status: "in_transit", Message: "Shipment picked up by carrier",
			Location: "Leipzig, DE", OccurredAt: "2024-05-02T17:45:00Z"},
		sampleTrackingHop{Status: "in_transit", Message: "Arrived at destination hub",
			Location: "London, GB", OccurredAt: "2024-05-03T06:10:00Z"},
	)
	s.UpdatedAt = "2024-05-03T06:10:00Z"
	return s
}

func deliveredShipment() sampleShipment {
	s := inTransitShipment()
	s.Status = "delivered"
	s.Events = append(s.Events,
		sampleTrackingHop{Status: "delivered", Message: "Delivered, signed by A. LOVELACE",
			Location: "London, GB", OccurredAt: "2024-05-03T15:58:00Z"},
	)
	s.EstimatedAt = ""
	s.DeliveredAt = "2024-05-03T15:58:00Z"
	s.UpdatedAt = "2024-05-03T15:58:00Z"
	return s
}
