// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables. Tracing is off unless asked for: with
// OTEL_TRACES_EXPORTER=otlp, or with an OTLP endpoint set
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and
// no OTEL_TRACES_EXPORTER; OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none keep it off. The exporter is OTLP over HTTP
// (its own OTEL_EXPORTER_OTLP_* variables: endpoint, headers, TLS,
// timeout), the sampler OTEL_TRACES_SAMPLER (default: parent-based, always
// on), the resource OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
// (service.name defaults to mulegate). The W3C trace context is the
// propagator, so a caller's traceparent is continued and the police store
// receives one.
//
// Spans never carry an IBAN, a pseudonym, a token or a request body: the
// server span has the method, the route template and the status; the
// Redis spans the operation; the police span the method, the route and
// the status.
package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracer is mulegate's tracer; it follows the global provider, so it is a
// no-op until Setup (or a test) installs one.
func Tracer() trace.Tracer { return otel.Tracer("github.com/mulegate/mulegate") }

// Active says whether spans are recorded: Setup, or a test, installed an
// SDK tracer provider.
func Active() bool {
	_, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider)
	return ok
}

// Enabled says whether the environment asks for tracing.
func Enabled(getenv func(string) string) (bool, error) {
	if getenv("OTEL_SDK_DISABLED") == "true" {
		return false, nil
	}
	switch e := getenv("OTEL_TRACES_EXPORTER"); e {
	case "otlp":
		return true, nil
	case "none":
		return false, nil
	case "":
		return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "", nil
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: mulegate exports traces with otlp only (or none)", e)
	}
}

// Setup installs the tracer provider and the W3C propagator when the
// environment asks for tracing, and returns the function that flushes and
// stops it. Off, it changes nothing (a provider installed before, by a
// test, stays) and shutdown does nothing.
func Setup(ctx context.Context, getenv func(string) string, version string) (shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	on, err := Enabled(getenv)
	if err != nil || !on {
		return none, err
	}
	if getenv("OTEL_EXPORTER_OTLP_PROTOCOL") != "" && getenv("OTEL_EXPORTER_OTLP_PROTOCOL") != "http/protobuf" {
		return none, errors.New("OTEL_EXPORTER_OTLP_PROTOCOL: mulegate sends http/protobuf only")
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return none, fmt.Errorf("otlp trace exporter: %w", err)
	}
	// The environment's service name and attributes win over the defaults.
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", "mulegate"),
		attribute.String("service.version", version)), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return none, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Shutdown, nil
}

// Propagator is the W3C trace context, whatever Setup did: an incoming
// traceparent is always continued, an outgoing one always sent.
var Propagator = propagation.TraceContext{}
