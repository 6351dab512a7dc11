package host

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/ordermill/ordermill/eventstore"
)

// Var documents one environment variable a binary reads: what --help prints and the
// README's configuration table lists (a test in each cmd checks both against what the
// binary actually reads).
type Var struct {
	Name    string
	Default string
	Meaning string
}

// DatabaseURLVar is the one variable every binary that opens the database reads.
var DatabaseURLVar = Var{"DATABASE_URL", eventstore.DefaultDatabaseURL, "the one database, created and migrated at start-up"}

// ToolDatabaseURLVar is DatabaseURLVar as an operator's tool reads it (bin/manager,
// bin/replay): the services' database, neither created nor migrated by the tool.
var ToolDatabaseURLVar = Var{"DATABASE_URL", eventstore.DefaultDatabaseURL, "the services' database, as they created and migrated it (never created or migrated here)"}

// ProcessVars are the variables every service process reads (Run), for a service whose
// default port is defaultPort.
func ProcessVars(defaultPort int) []Var {
	return []Var{
		DatabaseURLVar,
		{"PORT", strconv.Itoa(defaultPort), "port to listen on"},
		{"HOST", "127.0.0.1", "address to listen on"},
		{"ADDR", "", "host:port to listen on, instead of HOST and PORT"},
		{"DEV_MODE", "", "1 or true (also t, TRUE, True; another value stops the start-up): development secrets, unsigned webhooks accepted, simulators (README: what dev mode relaxes)"},
		{"LOG_LEVEL", "info", "debug, info, warn or error"},
		{"LOG_FORMAT", "text in dev mode, else json", "text or json"},
		{"SHUTDOWN_TIMEOUT", DefaultShutdownTimeout.String(), "on SIGTERM, how long requests, message batches and emails in flight may take to finish"},
		{"SHUTDOWN_DELAY", "0s", "on SIGTERM, how long to go on serving with /readyz answering 503 before the port closes (a load balancer's readiness interval)"},
		{"LOG_HOLDBACK_LIMIT", DefaultHoldbackLimit.String(), "/readyz says degraded once a transaction anywhere on the database server has held the log back this long"},
		{"OTEL_TRACES_EXPORTER", "none", "otlp (to OTEL_EXPORTER_OTLP_ENDPOINT) or stdout: export OpenTelemetry traces"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318", "where otlp traces go (OpenTelemetry's standard OTEL_EXPORTER_OTLP_* variables apply)"},
		{"PPROF_ADDR", "", "serve Go's profiler (/debug/pprof/) on this address, never on the service's port"},
	}
}

// Usage writes a service binary's --help: what it is and every variable it reads, with
// its default and meaning.
func Usage(w io.Writer, name, about string, vars []Var) {
	fmt.Fprintf(w, "Usage: %s [--help]\n\n%s\n\n", name, about)
	WriteVars(w, vars)
}

// WriteVars writes the environment part of a binary's --help: each variable with its
// default and meaning.
func WriteVars(w io.Writer, vars []Var) {
	fmt.Fprint(w, "Configured by environment variables (an invalid value stops start-up, naming the variable):\n\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, v.Meaning)
	}
	_ = tw.Flush()
}
