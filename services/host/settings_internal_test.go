package host

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A start logs what it was set to run with, secrets hidden, and a variable that is a typo
// of one it reads: RISK_TRESHOLD and SMTP_ULR were ignored without a word (a probe).
func TestStartUpLogsTheSettingsAndTypos(t *testing.T) {
	var buf bytes.Buffer
	vars := append(ProcessVars(3001), Var{Name: "RISK_THRESHOLD"}, Var{Name: "SMTP_URL"}, Var{Name: "PAYMENT_WEBHOOK_SECRET"}, Var{Name: "MANAGER_TOKENS"})
	logSettings(slog.New(slog.NewTextHandler(&buf, nil)), []string{
		"PORT=4701", "RISK_THRESHOLD=70", "PAYMENT_WEBHOOK_SECRET=whsec_live_abcdef", "MANAGER_TOKENS=ana@example.com:tok-7f3a9c1e52",
		"DATABASE_URL=postgres://app:hunter2hunter2@db.example/ordermill", "SMTP_URL=smtp://mail.example:587",
		"RISK_TRESHOLD=0", "SMTP_ULR=smtp://x", "LOG_LEVE=debug", "PROT=1",
		"HOME=/root", "PATH=/usr/bin", "HOSTNAME=box", "USER=root", "PWD=/", "TERM=xterm",
	}, vars)
	out := buf.String()
	assert.Contains(t, out, `set="DATABASE_URL=postgres://xxxxx:xxxxx@db.example/ordermill MANAGER_TOKENS=(set) PAYMENT_WEBHOOK_SECRET=(set) PORT=4701 RISK_THRESHOLD=70 SMTP_URL=smtp://mail.example:587"`)
	for typo, meant := range map[string]string{"RISK_TRESHOLD": "RISK_THRESHOLD", "SMTP_ULR": "SMTP_URL", "LOG_LEVE": "LOG_LEVEL", "PROT": "PORT"} {
		assert.Contains(t, out, typo+" is not read by this service: did you mean "+meant+"?")
	}
	for _, other := range []string{"HOME", "PATH", "HOSTNAME", "USER", "PWD", "TERM"} {
		assert.NotContains(t, out, other+" is not read")
	}
	assert.NotContains(t, out, "hunter2")
	buf.Reset()
	logSettings(slog.New(slog.NewTextHandler(&buf, nil)), []string{"OTEL_EXPORTER_OTLP_ENDPOINT=https://user:s3cr3t@otel.example?api_key=abc",
		"SMTP_URL=smtp://pm-token-123@smtp.example:587"}, append(vars, Var{Name: "OTEL_EXPORTER_OTLP_ENDPOINT"}))
	for _, secret := range []string{"s3cr3t", "abc", "pm-token-123"} {
		assert.NotContains(t, buf.String(), secret, "an endpoint's password and key, a relay's token as its user name")
	}
	for database, password := range map[string]string{
		"host=db user=app password = hunter2 dbname=x": "hunter2", // a connection string, spaces around =
		"postgres://app:pa?ss@db/x":                    "pa?ss",   // passwords pgx takes, net/url does not
		"postgres://app:12#34@db/x":                    "12#34",
		"postgres://app@db/x?password=hunter2":         "hunter2",
		"postgres://app:p%zz@db/x":                     "p%zz",
	} {
		buf.Reset()
		logSettings(slog.New(slog.NewTextHandler(&buf, nil)), []string{"DATABASE_URL=" + database}, vars)
		assert.Contains(t, buf.String(), `set="DATABASE_URL=`, database)
		assert.NotContains(t, buf.String(), password, database)
	}
	buf.Reset()
	logSettings(slog.New(slog.NewTextHandler(&buf, nil)), []string{"SMTP_URL=smtp://mail.example:587?api_key=k3y&mode=tls", "RISK_THRESHOLD=a b"}, vars)
	assert.Contains(t, buf.String(), `RISK_THRESHOLD=\"a b\" SMTP_URL=smtp://mail.example:587?api_key=xxxxx&mode=tls`, "a query's key hidden, a value with a space quoted")
	assert.NotContains(t, out, "whsec_live")
	assert.NotContains(t, out, "tok-7f3a")
}
