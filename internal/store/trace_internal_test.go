package store

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSpansOnlyWithinATrace: a store step starts a span under a request's
// (or a delivery's) span, and none on its own: the background polls of an
// idle gateway export nothing.
func TestSpansOnlyWithinATrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	_, end := span(context.Background(), "read outbox")
	end(nil)
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("a background step started %d spans", n)
	}
	ctx, parent := tp.Tracer("t").Start(context.Background(), "GET /v1/ibans/:iban")
	_, end = span(ctx, "lookup")
	end(nil)
	parent.End()
	if n := len(rec.Ended()); n != 2 {
		t.Fatalf("a request's step: %d spans ended, want 2 (the request's and the step's)", n)
	}
}
