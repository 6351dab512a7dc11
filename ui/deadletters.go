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
	MessageUUID   string
	// Payload and Metadata are the message's, as indented JSON.
	Payload  string
	Metadata string
	// RedrivenAt is when it was sent back to its consumer group (nil while open), by
	// RedrivenBy.
	RedrivenAt *time.Time
	RedrivenBy string
}

// DeadLetterTopic is a topic with dead letters not yet re-driven.
type DeadLetterTopic struct {
	Topic string
	Open  int
}

// DeadLetters is the dead-letters page: the newest letters, the topics with open ones
// (each re-drivable at once) and the outcome of the last re-drive.
type DeadLetters struct {
	Letters []DeadLetter
	Topics  []DeadLetterTopic
	Flash   string
}

// RedriveConfirm asks a manager to confirm a re-drive: one letter (ID) or every open
// letter of Topic, Count of them.
type RedriveConfirm struct {
	ID    int64
	Topic string
	Count int
	// UpTo, for a topic, is the newest of its open letters when the question was asked:
	// the confirmation re-drives none newer, which the manager was not shown.
	UpTo    int64
	Letters []DeadLetter
}

// RedriveAction is where a confirmation form posts.
func (c RedriveConfirm) RedriveAction() string {
	if c.ID != 0 {
		return redriveURL(c.ID)
	}
	return "/dashboard/dead-letters/redrive"
}

func redriveURL(id int64) string {
	return "/dashboard/dead-letters/" + itoa(int(id)) + "/redrive"
}
