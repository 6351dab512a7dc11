package inventory

// The names and shapes below are the warehouse's public contract: the saga, projections and
// other services decode them from the log, so a field or name never changes in place; a new
// shape gets a new versioned name.

// CommandsTopic is the topic other components send warehouse commands to.
const CommandsTopic = "warehouse_commands"

// StreamType is the stream type of reservations, so their events travel on "reservation_events".
const StreamType = "reservation"

// Command and event names carry a schema version so old messages stay decodable.
const (
	// ReserveName is the message name of Reserve.
	ReserveName = "inventory.reserve.v1"
	// ReleaseName is the message name of Release.
	ReleaseName = "inventory.release.v1"
	// ReservedName is the stored name of Reserved.
	ReservedName = "inventory.reserved.v1"
	// ReservationFailedName is the stored name of ReservationFailed.
	ReservationFailedName = "inventory.reservation_failed.v1"
	// ReleasedName is the stored name of Released.
	ReleasedName = "inventory.released.v1"
)

// Line asks for a quantity of one SKU; orders, commands and events share it so quantities
// never need translating between services.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Reserve asks the warehouse to hold stock for an order; it is honoured at most once per order.
type Reserve struct {
	OrderID string `json:"orderId"`
	Lines   []Line `json:"lines"`
}

// Release asks the warehouse to give an order's held stock back, e.g. after a failed payment.
type Release struct {
	OrderID string `json:"orderId"`
	Reason  string `json:"reason"`
}

// Reserved records that every line of an order is held, so the order may proceed to payment.
type Reserved struct {
	OrderID       string `json:"orderId"`
	ReservationID string `json:"reservationId"`
	Lines         []Line `json:"lines"`
}

// ReservationFailed records that nothing was held for an order, because at least one line
// could not be met; SKU names the first short SKU (in SKU order) so the order can say why.
type ReservationFailed struct {
	OrderID string `json:"orderId"`
	Reason  string `json:"reason"`
	SKU     string `json:"sku"`
}

// Released records that an order's held stock went back on the shelf.
type Released struct {
	OrderID       string `json:"orderId"`
	ReservationID string `json:"reservationId"`
	Reason        string `json:"reason"`
}

// StreamID names the reservation stream of an order, so one order has one reservation history.
func StreamID(orderID string) string { return "reservation-" + orderID }

// MessageName is the name Reserved travels under, so a consumer can subscribe by type.
func (Reserved) MessageName() string { return ReservedName }

// MessageName is the name ReservationFailed travels under, so a consumer can subscribe by type.
func (ReservationFailed) MessageName() string { return ReservationFailedName }

// MessageName is the name Released travels under, so a consumer can subscribe by type.
func (Released) MessageName() string { return ReleasedName }
