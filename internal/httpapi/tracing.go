package httpapi

import (
	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracing starts the request's server span, continuing the caller's W3C
// traceparent. The span is named by the route template and carries only
// the method, the route and the status: never the path (it may hold an
// IBAN), a header or the body. With tracing off it does nothing.
func tracing() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !telemetry.Active() { // tracing off: nothing per request
			c.Next()
			return
		}
		ctx := telemetry.Propagator.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
		route := routeOf(c)
		method := methodLabel(c.Request.Method)
		ctx, span := telemetry.Tracer().Start(ctx, method+" "+route, trace.WithSpanKind(trace.SpanKindServer))
		if !span.IsRecording() {
			c.Next()
			return
		}
		span.SetAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route))
		c.Request = c.Request.WithContext(ctx)
		c.Next()
		status := c.Writer.Status()
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
		span.End()
	}
}
