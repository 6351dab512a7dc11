package e2e

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
)

// press types one key as a keyboard does: a single keyDown carrying its text, so that a
// page cancelling the keydown also cancels the character (chromedp.KeyEvent sends the
// character as an event of its own).
func press(key string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		events := kb.Encode([]rune(key)[0]) // keyDown, char, keyUp
		down := *events[0]
		down.Text, down.UnmodifiedText = key, key
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, *events[len(events)-1])
		return err
	})
}

// focusedOrder is the order of the row that has the focus, or "".
const focusedOrder = `(document.activeElement.closest('[data-testid=pending-row]') || {dataset: {}}).dataset.orderId || ''`

// Issue 12's keyboard: j/k move between rows, r goes to the reason box, a approves after
// a confirmation (dismissed: nothing happens; accepted: approved), ? lists the shortcuts.
func TestDeskKeyboardShortcuts(t *testing.T) {
	s, alice := deskManagers(t)
	first := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(readyRow(first)))
	second := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(readyRow(second)))

	var answer atomic.Bool
	var asked atomic.Int32
	dialogs := chromedp.Events(alice, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			if ev.Type == page.DialogTypeConfirm {
				asked.Add(1)
			}
			_, _ = chromedp.Call(alice, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: answer.Load()})
		}
	}()

	do(t, alice, chromedp.KeyEvent("j"))
	assert.Equal(t, first, get(t, alice, chromedp.Evaluate[string](focusedOrder)))
	do(t, alice, chromedp.KeyEvent("j"))
	assert.Equal(t, second, get(t, alice, chromedp.Evaluate[string](focusedOrder)))
	do(t, alice, chromedp.KeyEvent("k"))
	assert.Equal(t, first, get(t, alice, chromedp.Evaluate[string](focusedOrder)))

	do(t, alice, chromedp.KeyEvent("a"))
	assert.Equal(t, int32(1), asked.Load(), "a asks first")
	assert.Equal(t, "awaiting_approval", s.order(t, first).Status, "a dismissed confirmation approves nothing")

	answer.Store(true)
	do(t, alice, chromedp.KeyEvent("a"), chromedp.WaitNotPresent(pendingRow(first)))
	assert.Equal(t, "alice@example.com", s.waitStatus(t, first, "awaiting_payment").DecidedBy)
	// The order that took the decided one's place has the focus, not the page.
	do(t, alice, until(focusedOrder+" === "+strconv.Quote(second)))

	do(t, alice, chromedp.KeyEvent("j"), press("r"), chromedp.KeyEvent("x"))
	assert.Equal(t, "reason-"+second, get(t, alice, chromedp.Evaluate[string](`document.activeElement.id`)))
	assert.Equal(t, "x", get(t, alice, chromedp.Value(in(second, `[data-testid=decide-reason]`))), "r itself is not typed; what follows is")

	do(t, alice, chromedp.Blur(in(second, `[data-testid=decide-reason]`)), chromedp.KeyEvent("?"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=shortcuts]`)))
	assert.Contains(t, textOf(t, alice, chromedp.CSS(`[data-testid=shortcuts]`)), "approve the selected order, after a confirmation")
}
