package order

import (
	"encoding/json"
	"slices"
	"time"
)

// Older versions of events. A stored event never changes, so when an event's shape
// changes it gets a new name (its version suffix goes up) and the old shape stays here,
// with an upcaster that reads it as the current version. Decode applies the upcasters,
// so everything that reads the log (the aggregate, the projections, the saga, the replay
// tool) sees only current events. The rule is in docs/ARCHITECTURE.md ("Event versions").

// NameOrderPlacedV1 is the name OrderPlaced was stored under before version 2.
const NameOrderPlacedV1 = "order.placed.v1"

// orderPlacedV1 is OrderPlaced as version 1 stored it: the total in cents and its
// currency as two fields.
type orderPlacedV1 struct {
	OrderID         string    `json:"orderId"`
	CustomerID      string    `json:"customerId"`
	CustomerEmail   string    `json:"customerEmail,omitempty"`
	NewCustomer     bool      `json:"newCustomer"`
	Items           []Item    `json:"items"`
	Total           Cents     `json:"total"`
	Currency        string    `json:"currency"`
	ShippingAddress *Address  `json:"shippingAddress,omitempty"`
	BillingAddress  *Address  `json:"billingAddress,omitempty"`
	PlacedAt        time.Time `json:"placedAt"`
}

// upcaster reads the payload of an older version of an event as the event's current
// version, named current.
type upcaster struct {
	current string
	upcast  func(payload []byte) (Event, error)
}

// upcasters maps every older name still found in the log to its upcaster. An upcaster
// always yields the current version: when an event changes again, the older upcasters
// are changed to go all the way.
var upcasters = map[string]upcaster{
	NameOrderPlacedV1: {current: NameOrderPlaced, upcast: func(payload []byte) (Event, error) {
		var v1 orderPlacedV1
		if err := json.Unmarshal(payload, &v1); err != nil {
			return nil, err
		}
		return &OrderPlaced{
			OrderID: v1.OrderID, CustomerID: v1.CustomerID, CustomerEmail: v1.CustomerEmail, NewCustomer: v1.NewCustomer,
			Items: v1.Items, Total: Money{Amount: v1.Total, Currency: v1.Currency},
			ShippingAddress: v1.ShippingAddress, BillingAddress: v1.BillingAddress, PlacedAt: v1.PlacedAt,
		}, nil
	}},
}

// Upcast returns an event stored under name with payload as its current version: the
// current name and the payload in the current shape. A current event (or a message that
// is not an order event) comes back as it is.
func Upcast(name string, payload []byte) (string, []byte, error) {
	u, ok := upcasters[name]
	if !ok {
		return name, payload, nil
	}
	e, err := u.upcast(payload)
	if err != nil {
		return "", nil, err
	}
	current, err := json.Marshal(e)
	if err != nil {
		return "", nil, err
	}
	return u.current, current, nil
}

// StoredNames lists every name an event that reads as name may be stored under: its
// older versions' names and name itself, sorted. Queries of the log by event name must
// match all of them.
func StoredNames(name string) []string {
	names := []string{name}
	for old, u := range upcasters {
		if u.current == name {
			names = append(names, old)
		}
	}
	slices.Sort(names)
	return names
}
