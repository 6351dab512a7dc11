package inbox

import (
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every outcome ordermill_webhooks_total counts is listed in the metric's help and in
// the README's table of metrics.
func TestEveryWebhookOutcomeIsDocumented(t *testing.T) {
	outcomes := []string{outcomeAccepted, outcomeDuplicate, outcomeIgnored, outcomeBadSignature, outcomeUnknownOrder}
	descs := make(chan *prometheus.Desc, 1)
	New(nil, nil, nil, Config{}).webhooks.Describe(descs)
	// The help's words: an outcome is a word of its own, not part of another.
	help := strings.FieldsFunc((<-descs).String(), func(r rune) bool { return !unicode.IsLetter(r) && r != '_' })

	readme, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	var row string
	for line := range strings.Lines(string(readme)) {
		if strings.HasPrefix(line, "| `ordermill_webhooks_total` |") {
			row = line
		}
	}
	require.NotEmpty(t, row, "the README's metrics table has ordermill_webhooks_total")
	for _, o := range outcomes {
		assert.Contains(t, help, o, "the help of ordermill_webhooks_total lists %s", o)
		assert.Contains(t, row, "`"+o+"`", "the README lists outcome %s", o)
	}
}
