// Package shipping is the delivery service's public contract: the command that hands an
// order to the courier, the event that reports the shipment, and the webhook the courier
// sends as the parcel moves.
package shipping

import (
	"fmt"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/limits"
)

// The names and shapes below are decoded by the saga, projections and the orders service,
// so a field or name never changes in place; a new shape gets a new versioned name.

// CommandsTopic is the topic other components send delivery commands to.
const CommandsTopic = "delivery_commands"

// StreamType is the stream type of shipments, so their events travel on "shipment_events".
const StreamType = "shipment"

// Command and event names carry a schema version so old messages stay decodable.
const (
	// CreateShipmentName is the message name of CreateShipment.
	CreateShipmentName = "delivery.create_shipment.v1"
	// ShipmentCreatedName is the stored name of ShipmentCreated.
	ShipmentCreatedName = "shipment.created.v1"
	// ShipmentRefusedName is the stored name of ShipmentRefused.
	ShipmentRefusedName = "shipment.refused.v1"
	// CancelShipmentName is the message name of CancelShipment.
	CancelShipmentName = "delivery.cancel_shipment.v1"
	// ShipmentCancelledName is the stored name of ShipmentCancelled.
	ShipmentCancelledName = "shipment.cancelled.v1"
)

// Courier statuses the orders service acts on; a courier may also report intermediate ones
// (picked_up, out_for_delivery), which receivers should record and otherwise ignore.
const (
	// StatusInTransit means the courier has the parcel.
	StatusInTransit = "in_transit"
	// StatusDelivered means the parcel reached the customer.
	StatusDelivered = "delivered"
	// StatusFailed means the courier gave up; the order was paid, so a human must follow up.
	StatusFailed = "failed"
)

// Address is where the parcel goes; it mirrors the order's shipping address field by field.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postalCode"`
	Country    string `json:"country"`
}

// Line is a quantity of one SKU in the parcel, so the courier's manifest matches the order.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// CreateShipment asks the courier to ship an order; it is honoured at most once per order, so
// a redelivered command can never send the goods twice, save after a CancelShipment: the
// order's shipment called off, the next CreateShipment books one anew.
type CreateShipment struct {
	OrderID string   `json:"orderId"`
	Address *Address `json:"address,omitempty"`
	Lines   []Line   `json:"lines"`
}

// Validate reports the first problem with c as a field error, so the HTTP edge and the
// command consumer refuse the same inputs. The address is optional and its parts are not
// required: the orders service accepts orders without one (the business case's own example
// has none), and a command the saga sends for an accepted order must never be refused, or
// the order would stall; the courier collects a missing address from the customer. Lines
// and the address's parts have the order's bounds (package limits), which that order met.
func (c CreateShipment) Validate() error {
	if err := limits.OrderID(c.OrderID); err != nil {
		return err
	}
	if len(c.Lines) == 0 {
		return apperr.FieldErrorf("lines", "lines must hold at least one line")
	}
	if err := limits.Lines("lines", len(c.Lines)); err != nil {
		return err
	}
	for i, l := range c.Lines {
		if err := limits.Line(fmt.Sprintf("lines[%d]", i), l.SKU, l.Quantity); err != nil {
			return err
		}
	}
	if a := c.Address; a != nil {
		return limits.Address("address", a.Name, a.Line1, a.Line2, a.City, a.PostalCode, a.Country)
	}
	return nil
}

// ShipmentCreated records that the courier accepted the parcel and gives the customer
// something to track. Address and Lines are what the parcel carries, so that the saga can
// tell a booking by hand of other goods or another address than its order's (Differences)
// from the order's own; an event of a release before 2026-12-07 has neither.
type ShipmentCreated struct {
	OrderID        string   `json:"orderId"`
	ShipmentID     string   `json:"shipmentId"`
	Carrier        string   `json:"carrier"`
	TrackingNumber string   `json:"trackingNumber"`
	Address        *Address `json:"address,omitempty"`
	Lines          []Line   `json:"lines,omitempty"`
}

// Parcel is what the shipment ev reports carries, as the command that would book it.
func (ev ShipmentCreated) Parcel() CreateShipment {
	return CreateShipment{OrderID: ev.OrderID, Address: ev.Address, Lines: ev.Lines}
}

// Differences names what a shipment booked as booked carries otherwise than asked asks
// for: each SKU whose total quantity differs ("SKU-1: 2 in the shipment, 1 asked"), in SKU
// order, then each part of the address that differs ("address.city"). None when they
// carry the same: lines are compared per SKU, however they are split or ordered, and an
// address part without the spaces around it, no address reading as one of empty parts.
// A shipment is booked once an order, so a command that meets one booked otherwise must
// not be answered with it (the delivery service refuses it).
func Differences(booked, asked CreateShipment) []string {
	var diff []string
	for _, d := range inventory.Differences(inventoryLines(booked.Lines), inventoryLines(asked.Lines)) {
		diff = append(diff, fmt.Sprintf("%s: %d in the shipment, %d asked", d.SKU, d.A, d.B))
	}
	a, b := booked.Address.parts(), asked.Address.parts()
	for i, name := range addressParts {
		if strings.TrimSpace(a[i]) != strings.TrimSpace(b[i]) {
			diff = append(diff, "address."+name)
		}
	}
	return diff
}

// addressParts names the parts of an Address as its JSON does, in the order parts lists them.
var addressParts = [...]string{"name", "line1", "line2", "city", "postalCode", "country"}

// parts are a's parts in addressParts' order; all empty for no address.
func (a *Address) parts() [len(addressParts)]string {
	if a == nil {
		return [len(addressParts)]string{}
	}
	return [...]string{a.Name, a.Line1, a.Line2, a.City, a.PostalCode, a.Country}
}

// inventoryLines are lines as the warehouse's contract counts them, per SKU.
func inventoryLines(lines []Line) []inventory.Line {
	out := make([]inventory.Line, len(lines))
	for i, l := range lines {
		out[i] = inventory.Line{SKU: l.SKU, Quantity: l.Quantity}
	}
	return out
}

// ShipmentRefused records that the service refused an order's CreateShipment by this
// contract (Validate): an order an earlier release accepted, or a command written by hand;
// or because the command met the order's shipment booked with other lines or address
// (Differences: a booking by hand), which ShipmentID then names. The order waits for its
// shipment, so it is answered, once a command, as the warehouse answers a reservation it
// refuses; nothing is booked.
type ShipmentRefused struct {
	OrderID    string `json:"orderId"`
	ShipmentID string `json:"shipmentId,omitempty"`
	Reason     string `json:"reason"`
}

// MessageName is the name ShipmentRefused travels under, so a consumer can subscribe by type.
func (ShipmentRefused) MessageName() string { return ShipmentRefusedName }

// CancelShipment asks the delivery service to call off an order's shipment before the
// courier collects it: the saga sends it for a shipment booked by hand for an order the
// orders service never placed, which nothing could ever claim, for an order not paid yet,
// or for one given up (cancelled, rejected). It is honoured at most once; a shipment the
// courier has moved on, or none, is left as it is. ShipmentID names the booking to call
// off: a cancelled shipment's order may be booked anew (CreateShipment), and a cancel
// meant for the booking before must not call off the new one. Empty (a command of a
// release before 2026-12-07), the order's shipment is called off, whichever it is.
type CancelShipment struct {
	OrderID    string `json:"orderId"`
	ShipmentID string `json:"shipmentId,omitempty"`
	Reason     string `json:"reason"`
}

// Validate reports the first problem with c as a field error.
func (c CancelShipment) Validate() error {
	if err := limits.OrderID(c.OrderID); err != nil {
		return err
	}
	return limits.Check(limits.ID("shipmentId", c.ShipmentID), limits.Text("reason", c.Reason))
}

// ShipmentCancelled records that an order's shipment was called off before the courier
// collected it: nothing will be carried, and the courier may not move it any more.
type ShipmentCancelled struct {
	OrderID    string `json:"orderId"`
	ShipmentID string `json:"shipmentId"`
	Reason     string `json:"reason"`
}

// MessageName is the name ShipmentCancelled travels under, so a consumer can subscribe by type.
func (ShipmentCancelled) MessageName() string { return ShipmentCancelledName }

// Webhook is the body the courier POSTs to the orders service at /webhooks/delivery, signed
// with the courier scheme; ID lets a receiver recognise a redelivery.
type Webhook struct {
	ID         string `json:"id,omitempty"`
	OrderID    string `json:"orderId"`
	ShipmentID string `json:"shipmentId,omitempty"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
}

// Validate reports the first problem with w as a field error; any non-empty status passes
// because couriers report intermediate statuses the orders service only records.
func (w Webhook) Validate() error {
	if strings.TrimSpace(w.OrderID) == "" {
		return apperr.FieldErrorf("orderId", "orderId is required")
	}
	if strings.TrimSpace(w.Status) == "" {
		return apperr.FieldErrorf("status", "status is required")
	}
	return limits.Check(limits.ID("id", w.ID), limits.ID("orderId", w.OrderID), limits.ID("shipmentId", w.ShipmentID),
		limits.Token("status", w.Status), limits.Text("reason", w.Reason))
}

// StreamID names the shipment stream of an order, so one order has one shipment history.
func StreamID(orderID string) string { return "shipment-" + orderID }

// MessageName is the name ShipmentCreated travels under, so a consumer can subscribe by type.
func (ShipmentCreated) MessageName() string { return ShipmentCreatedName }
