package ui

import "time"

// DeadLetter is a message a consumer gave up on.
type DeadLetter struct {
	ID            int64
	Topic         string
	ConsumerGroup string
	OrderID       string
	Name          string
	Error         string
	FailedAt      time.Time
}
