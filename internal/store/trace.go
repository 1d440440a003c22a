package store

import (
	"context"

	"github.com/mulegate/mulegate/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// span starts a client span for one store step on Redis ("redis lookup",
// "redis accept"…): its name and db.system only, never a key or an
// argument. end records err, if any, and ends it. Only within a trace
// (a request's, or a delivery's): the background loops' polls start
// none, so an idle gateway exports no spans (it exported about 44 root
// spans a second, 3.8 million a day, before).
func span(ctx context.Context, name string) (context.Context, func(error)) {
	if !telemetry.Active() || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, noEnd // no span, no allocation on the lookup path
	}
	ctx, sp := telemetry.Tracer().Start(ctx, "redis "+name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", "redis"), attribute.String("db.operation.name", name)))
	return ctx, func(err error) {
		if err != nil {
			sp.SetStatus(otelcodes.Error, "")
		}
		sp.End()
	}
}

func noEnd(error) {}

// traceParent is ctx's W3C traceparent ("" when there is no sampled span),
// kept with an outbox entry so the forwarding call continues the trace.
func traceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return ""
	}
	c := propagation.MapCarrier{}
	telemetry.Propagator.Inject(ctx, c)
	return c["traceparent"]
}
