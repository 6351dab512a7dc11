package host

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
)

// OTEL_TRACES_EXPORTER=stdout writes spans to standard output: on standard error they
// stood between the JSON log's lines, which no line-by-line reader of the log could take.
func TestStdoutSpansGoToStandardOutput(t *testing.T) {
	defer otel.SetTracerProvider(otel.GetTracerProvider())
	outR, outW, err := os.Pipe()
	require.NoError(t, err)
	errR, errW, err := os.Pipe()
	require.NoError(t, err)
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outW, errW
	shutdown, err := setupTracing(context.Background(), "test", "stdout")
	os.Stdout, os.Stderr = stdout, stderr
	require.NoError(t, err)
	_, span := otel.Tracer("test").Start(context.Background(), "GET /api/catalog")
	span.End()
	require.NoError(t, shutdown(context.Background()))
	require.NoError(t, outW.Close())
	require.NoError(t, errW.Close())
	out, err := io.ReadAll(outR)
	require.NoError(t, err)
	errOut, err := io.ReadAll(errR)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"Name":"GET /api/catalog"`)
	assert.Empty(t, string(errOut))
}
